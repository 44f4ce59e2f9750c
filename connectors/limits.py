"""Limits on what one delivery may hold, so that no input stalls a load.

A header of hundreds of thousands of columns, or a line of hundreds of megabytes, is a broken
or hostile extract, not data: it fails its batch with one line naming the source, the limit
and the setting that raises it, before any work grows with it. The settings are declared with
the others in runtime/settings.py (same names, same defaults); they are read here, from the
environment, with the limits' own defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from connectors.base import ConnectorError

COLUMNS_SETTING = "GDX_MAX_COLUMNS"
HEADER_SETTING = "GDX_MAX_HEADER_KB"
FIELD_SETTING = "GDX_MAX_FIELD_KB"
PAGE_SETTING = "GDX_MAX_PAGE_MB"
#: The widest resource has a few dozen fields; a department extract with a thousand columns is
#: already not one of ours.
DEFAULT_COLUMNS = 1000
DEFAULT_HEADER_KB = 64
#: Python's csv module refuses fields over 128 KiB by default, so department tools know it.
DEFAULT_FIELD_KB = 128
#: An API page of the largest page size (10,000 records) of the widest resource is a few MiB.
DEFAULT_PAGE_MB = 64


@dataclass(frozen=True)
class Limits:
    columns: int = DEFAULT_COLUMNS
    header_bytes: int = DEFAULT_HEADER_KB << 10
    field_bytes: int = DEFAULT_FIELD_KB << 10
    page_bytes: int = DEFAULT_PAGE_MB << 20

    @classmethod
    def from_env(cls) -> Limits:
        """The limits the settings give (their defaults where unset)."""
        return cls(
            columns=_positive(COLUMNS_SETTING, DEFAULT_COLUMNS),
            header_bytes=_positive(HEADER_SETTING, DEFAULT_HEADER_KB) << 10,
            field_bytes=_positive(FIELD_SETTING, DEFAULT_FIELD_KB) << 10,
            page_bytes=_positive(PAGE_SETTING, DEFAULT_PAGE_MB) << 20,
        )

    def page_too_big(self, where: str) -> str:
        return (
            f"{where}: a page over {self.page_bytes >> 20:,} MiB ({PAGE_SETTING} raises the limit)"
        )

    def check_columns(self, where: str, count: int) -> None:
        if count > self.columns:
            raise ConnectorError(
                f"{where}: {count:,} columns, over the limit of {self.columns:,} "
                f"({COLUMNS_SETTING} raises it)"
            )

    def header_too_long(self, where: str) -> ConnectorError:
        return ConnectorError(
            f"{where}: the header runs over {self.header_bytes >> 10:,} KiB "
            f"({HEADER_SETTING} raises the limit)"
        )

    def check_header_bytes(self, where: str, header: list[str]) -> None:
        """For sources whose header is not one line of bytes (sheets, tables, API records)."""
        size = sum(len(name.encode("utf-8", "surrogatepass")) + 1 for name in header)
        if size > self.header_bytes:
            raise self.header_too_long(where)

    def check_fields(self, where: str, table: pa.Table, lines: pa.Array, line: str = "line"):
        """Fail on the first value over the field limit (bytes of UTF-8), naming its line and
        column; one vectorised pass per column."""
        if table.num_rows == 0:
            return
        for name, column in zip(table.column_names, table.columns, strict=True):
            lengths = pc.binary_length(column)
            longest = pc.max(lengths).as_py()
            if longest is None or longest <= self.field_bytes:
                continue
            row = pc.index(pc.greater(lengths, self.field_bytes), True).as_py()
            size, limit = lengths[row].as_py(), self.field_bytes >> 10
            raise ConnectorError(
                f"{where}: {line} {lines[row].as_py()}, column {name!r}: a value of {size:,} "
                f"bytes, over the field limit of {limit:,} KiB ({FIELD_SETTING} raises it)"
            )


def _positive(env: str, default: int) -> int:
    value = os.environ.get(env) or str(default)
    if not value.isdigit() or int(value) < 1:
        raise ConnectorError(f"{env}: expected a positive whole number, got {value!r}")
    return int(value)
