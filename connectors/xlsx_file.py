"""Excel workbooks from departments: the first or a named sheet, streamed row by row.

Department exports put title rows above the header and merge header cells; the header row is
the first of the top rows in which known headers appear, a header cell merged across columns
names every column under it, and a second header row below (sub-headers) refines it. Dates come
as dates; numbers that are really dates (Excel serials) are the business of date normalisation.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from xml.etree import ElementTree

import pyarrow as pa

from connectors.base import (
    ConnectorError,
    FileDelivery,
    MalformedRow,
    RawBatch,
    repeated_names,
    strings,
)
from connectors.limits import Limits

HEADER_SCAN_ROWS = 20
_CELL = re.compile(r"^([A-Z]+)(\d+)$")


class XlsxFile(FileDelivery):
    kind = "xlsx"
    encoding = None
    empty_ok = False

    def __init__(
        self,
        path: Path | str,
        is_header: Callable[[str], bool],
        sheet: str | None = None,
        batch_rows: int = 50_000,
        limits: Limits | None = None,
    ):
        """`is_header(text)` tells a known header (a field name, zh label or alias)."""
        import openpyxl

        self.path = Path(path)
        self.limits = limits or Limits.from_env()
        self.location = str(self.path)
        self.batch_rows = batch_rows
        if not self.path.is_file():
            raise ConnectorError(f"{self.path}: file not found")
        try:
            self.book = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise ConnectorError(f"{self.path}: not a readable .xlsx workbook ({exc})") from None
        if sheet is not None and sheet not in self.book.sheetnames:
            names = ", ".join(self.book.sheetnames)
            raise ConnectorError(f"{self.path}: no sheet {sheet!r} (sheets: {names})")
        self.sheet = self.book[sheet] if sheet else self.book.worksheets[0]
        self.where = f"{self.path}: sheet {self.sheet.title}"
        self.header, self.first_data_row = self._find_header(is_header)

    def _merged(self) -> list[tuple[int, int, int, int]]:
        """Merged ranges as (min_row, min_col, max_row, max_col), read from the sheet's XML."""
        ranges = []
        with zipfile.ZipFile(self.path) as archive, archive.open(self.sheet._worksheet_path) as xml:
            for _, element in ElementTree.iterparse(xml):
                if element.tag.endswith("}mergeCell"):
                    first, _, last = element.get("ref", "").partition(":")
                    if last:
                        (r1, c1), (r2, c2) = _cell(first), _cell(last)
                        ranges.append((r1, c1, r2, c2))
                element.clear()
        return ranges

    def _find_header(self, is_header: Callable[[str], bool]) -> tuple[list[str], int]:
        top = [
            [_text(v) for v in row]
            for row in self.sheet.iter_rows(max_row=HEADER_SCAN_ROWS, values_only=True)
        ]
        for r, row in enumerate(top, start=1):  # before any work that grows with the width
            width = max((i + 1 for i, v in enumerate(row) if v not in (None, "")), default=0)
            self.limits.check_columns(f"{self.where}: row {r}", width)
        merged = self._merged()
        for r, row in enumerate(top, start=1):
            filled = _fill_merged(row, r, merged)
            hits = sum(1 for value in filled if value and is_header(value))
            if hits >= 2 or (hits == 1 and sum(1 for value in filled if value) == 1):
                names, data_row = filled, r + 1
                if _spans_down(r, merged) and r < len(top):
                    names = _refine(filled, top[r], is_header)
                    data_row = r + 2
                header = _named(names, self.where, r)
                self.limits.check_header_bytes(f"{self.where}: row {r}", header)
                return header, data_row
        raise ConnectorError(
            f"{self.where}: no header row among the first {HEADER_SCAN_ROWS} rows "
            "(none has two or more known headers)"
        )

    def batches(self) -> Iterator[RawBatch]:
        width = len(self.header)
        rows: list[tuple] = []
        lines: list[int] = []
        malformed: list[MalformedRow] = []
        number = self.first_data_row - 1
        try:
            for values in self.sheet.iter_rows(min_row=self.first_data_row, values_only=True):
                number += 1
                if all(v is None or v == "" for v in values):
                    continue
                extra = [v for v in values[width:] if v not in (None, "")]
                if extra:
                    text = ",".join("" if v is None else _text(v) for v in values)
                    reason = f"expected {width} fields, found {width + len(extra)}"
                    malformed.append(MalformedRow(number, text, reason))
                    continue
                rows.append(tuple(values[:width]) + (None,) * (width - len(values)))
                lines.append(number)
                if len(rows) >= self.batch_rows:
                    yield self._batch(rows, lines, malformed)
                    rows, lines, malformed = [], [], []
            if rows or malformed:
                yield self._batch(rows, lines, malformed)
        except (zipfile.BadZipFile, OSError, ValueError, ElementTree.ParseError) as exc:
            raise ConnectorError(f"{self.where}: row {number}: unreadable ({exc})") from None
        finally:
            self.book.close()

    def _batch(self, rows: list[tuple], lines: list[int], bad: list[MalformedRow]) -> RawBatch:
        columns = {name: [_text(row[i]) for row in rows] for i, name in enumerate(self.header)}
        table, numbers = strings(columns), pa.array(lines, pa.int64())
        self.limits.check_fields(self.where, table, numbers, line="row")
        return RawBatch(table, numbers, list(bad))


def _cell(ref: str) -> tuple[int, int]:
    match = _CELL.match(ref)
    if not match:
        raise ConnectorError(f"bad merged cell reference {ref!r}")
    letters, digits = match.groups()
    column = 0
    for letter in letters:
        column = column * 26 + ord(letter) - 64
    return int(digits), column


def _fill_merged(row: list, r: int, merged: list[tuple[int, int, int, int]]) -> list[str | None]:
    """A header cell merged across columns names each column it covers."""
    filled = list(row)
    for r1, c1, r2, c2 in merged:
        if r1 <= r <= r2 and c2 > c1 and c1 <= len(filled):
            value = filled[c1 - 1] if r == r1 else None
            for c in range(c1, min(c2, len(filled)) + 1):
                filled[c - 1] = filled[c - 1] or value
    return filled


def _spans_down(r: int, merged: list[tuple[int, int, int, int]]) -> bool:
    """Whether some header cell of row r is merged with the row below (a two-row header)."""
    return any(r1 == r and r2 > r for r1, _, r2, _ in merged)


def _refine(top: list, below: list, is_header: Callable[[str], bool]) -> list[str | None]:
    """Two-row headers: a sub-header (or the top and sub-header joined) wins where known."""
    names = []
    for i, upper in enumerate(top):
        lower = below[i] if i < len(below) else None
        joined = f"{upper or ''}{lower or ''}"
        if lower and is_header(joined):
            names.append(joined)
        elif lower and (is_header(lower) or not upper):
            names.append(lower)
        else:
            names.append(upper)
    return names


def _named(names: list, where: str, r: int) -> list[str]:
    while names and not names[-1]:
        names = names[:-1]
    header = [str(name).strip() for name in names]
    if "" in header:
        raise ConnectorError(f"{where}: row {r}: column {header.index('') + 1} has no header")
    repeated = repeated_names(header)
    if repeated:
        raise ConnectorError(f"{where}: row {r}: header {repeated[0]!r} appears twice")
    return header


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip() if isinstance(value, str) else str(value)
