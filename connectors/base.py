"""What every connector yields: deliveries of raw string batches, and the state after them."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
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

    def next_state(self, current: dict) -> dict:
        """The source's state once this delivery commits, from the state stored at that moment
        (call after `batches`)."""
        ...


def repeated_names(header: list[str]) -> list[str]:
    """Names that appear more than once, sorted (one pass: headers come from outside)."""
    return sorted(name for name, count in Counter(header).items() if count > 1)


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


class FileDelivery:
    """A delivery that is one file: its state is the file and its checksum."""

    path: Path
    location: str

    def checksum(self) -> str:
        if not hasattr(self, "_checksum"):
            self._checksum = file_checksum(self.path)
        return self._checksum

    def next_state(self, current: dict) -> dict:
        return {"file": self.location, "checksum": self.checksum()}


#: Opens one delivery; raising ConnectorError here fails that batch, not the others.
Opener = Callable[[], Delivery]


def strings(columns: dict[str, list]) -> pa.Table:
    """A table of string columns from lists of Python values (None stays null)."""
    return pa.table(
        {
            name: pa.array([None if v is None else text(v) for v in values], pa.string())
            for name, values in columns.items()
        }
    )


def text(value: object) -> str:
    """How a typed value from a database, workbook or JSON reads as text."""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time() and value.tzinfo is None:
            return value.date().isoformat()  # a DATE kept in a DATETIME column
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
