"""What every connector yields: deliveries of raw string batches, and the state after them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa


class ConnectorError(Exception):
    """The source cannot be read; the message names the file (or source) and what is wrong."""


@dataclass(frozen=True)
class MalformedRow:
    """A row the parser could not split into the header's columns."""

    line: int
    text: str
    reason: str


@dataclass
class RawBatch:
    """One bounded chunk of a delivery: string columns under the source's own headers."""

    table: pa.Table
    lines: pa.Array
    malformed: list[MalformedRow] = field(default_factory=list)


class Delivery(Protocol):
    """One batch's worth of a source: a file, a table read, an API crawl."""

    location: str  # what the ledger and messages name: a path, a table, a URL
    encoding: str | None
    header: list[str]
    empty_ok: bool  # whether a delivery without rows is normal (incremental reads)

    def checksum(self) -> str | None: ...

    def batches(self) -> Iterator[RawBatch]: ...

    def next_state(self) -> dict:
        """The source's state once this delivery has committed (call after `batches`)."""
        ...


#: Opens one delivery; raising ConnectorError here fails that batch, not the others.
Opener = Callable[[], Delivery]


def strings(columns: dict[str, list]) -> pa.Table:
    """A table of string columns from lists of Python values (None stays null)."""
    return pa.table(
        {
            name: pa.array([None if v is None else _text(v) for v in values], pa.string())
            for name, values in columns.items()
        }
    )


def _text(value: object) -> str:
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    return str(value)


def latest_plausible(values: pa.ChunkedArray | pa.Array) -> str | None:
    """The greatest watermark-like text that is not in the future: one mistyped date (2999-…)
    must not move a source's state past every row still to come."""
    import datetime as dt

    import pyarrow.compute as pc

    tomorrow = (dt.datetime.now() + dt.timedelta(days=1)).isoformat(sep=" ")
    plausible = pc.filter(values, pc.fill_null(pc.less_equal(values, tomorrow), False))
    return pc.max(plausible).as_py() if len(plausible) else None
