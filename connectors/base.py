"""What every connector yields: raw string batches, with the rows it could not parse."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    """One bounded chunk of a source: string columns under the source's own headers."""

    table: pa.Table
    lines: pa.Array
    malformed: list[MalformedRow] = field(default_factory=list)
