"""CSV files from departments: UTF-8 (with or without BOM), GBK or GB18030, streamed.

The encoding is detected from the first megabyte; every value is read as a string (typing is
the business of normalisation and validation); rows with the wrong number of fields are handed
back as malformed rather than failing the file.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from connectors.base import ConnectorError, FileDelivery, MalformedRow, RawBatch, repeated_names
from connectors.limits import FIELD_SETTING, Limits

SAMPLE_BYTES = 1 << 20
# pyarrow's streaming reader reads up to 32 blocks ahead on a background thread, whatever the
# consumer does: parse in blocks of at most this size and join them into the blocks asked for,
# so that what is read ahead stays under 32 MiB however big the file or the block.
PARSE_BYTES = 1 << 20
ENCODINGS = ("utf-8", "gbk", "gb18030")
_CODEC = {"utf-8": "utf8", "utf-8-sig": "utf8", "gbk": "gbk", "gb18030": "gb18030"}


def detect_encoding(path: Path) -> str:
    """`utf-8-sig`, `utf-8`, `gbk` or `gb18030`, judged on the start of the file."""
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
        at_end = not handle.read(1)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for encoding in ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            decoder.decode(sample, final=at_end)
            return encoding
        except UnicodeDecodeError:
            continue
    raise ConnectorError(f"{path}: cannot tell the encoding (not UTF-8, GBK or GB18030)")


def locate_decode_error(path: Path, encoding: str) -> str:
    """`line N, byte M: cannot decode ... as ENCODING` for the first undecodable byte."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line, offset = 1, 0
    with path.open("rb") as handle:
        while chunk := handle.read(SAMPLE_BYTES):
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                where = line + chunk[: exc.start].count(b"\n")
                return (
                    f"line {where}, byte {offset + exc.start}: "
                    f"cannot decode {chunk[exc.start : exc.end]!r} as {encoding}"
                )
            line += text.count("\n")
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return f"byte {offset}: the file ends inside a character ({encoding})"
    return f"cannot decode as {encoding}"


class CsvFile(FileDelivery):
    """A department CSV file, read in bounded blocks of about `block_bytes` of text."""

    kind = "csv"
    empty_ok = False  # a file without data rows is a broken extract

    def __init__(
        self,
        path: Path | str,
        encoding: str = "auto",
        block_bytes: int = 16 << 20,
        limits: Limits | None = None,
    ):
        self.path = Path(path)
        self.limits = limits or Limits.from_env()
        self.location = str(self.path)
        if not self.path.is_file():
            raise ConnectorError(f"{self.path}: file not found")
        if self.path.stat().st_size == 0:
            raise ConnectorError(f"{self.path}: the file is empty")
        if encoding == "auto":
            encoding = detect_encoding(self.path)
        elif encoding.lower() not in _CODEC:
            raise ConnectorError(f"{self.path}: unsupported encoding {encoding!r}")
        self.encoding = encoding.lower()
        self.block_bytes = block_bytes
        self.header = self._read_header()

    def _read_header(self) -> list[str]:
        """The first record, read from at most the header limit's bytes: a longer header fails
        here, after one bounded read, whatever the size of the line."""
        limits = self.limits
        with self.path.open("rb") as handle:
            sample = handle.read(limits.header_bytes)
            at_end = not handle.read(1)
        lines = _Lines(sample.decode(self.encoding, errors="replace"))
        if csv.field_size_limit() < limits.header_bytes:  # a raised GDX_MAX_HEADER_KB
            csv.field_size_limit(limits.header_bytes)  # (process-wide; it only ever grows)
        try:
            first = next(csv.reader(lines), [])
        except csv.Error as exc:
            if not at_end and lines.exhausted:
                raise limits.header_too_long(str(self.path)) from None
            raise ConnectorError(f"{self.path}: line 1: unreadable header ({exc})") from None
        if not at_end and (lines.exhausted or not lines.last.endswith(("\n", "\r"))):
            raise limits.header_too_long(str(self.path))  # the record goes on past the limit
        limits.check_columns(f"{self.path}: line 1", len(first))
        header = [name.strip().lstrip("\ufeff") for name in first]
        if not any(header):
            raise ConnectorError(f"{self.path}: line 1: no header row")
        blank = [i + 1 for i, name in enumerate(header) if not name]
        if blank:
            raise ConnectorError(f"{self.path}: line 1: column {blank[0]} has no header")
        repeated = repeated_names(header)
        if repeated:
            raise ConnectorError(f"{self.path}: line 1: header {repeated[0]!r} appears twice")
        return header

    def batches(self) -> Iterator[RawBatch]:
        """Blocks of string columns under the file's headers, with the rows that did not parse.

        Line numbers are physical lines, counting one line per record (a quoted value that
        spans lines shifts the numbers after it).
        """
        malformed: list[MalformedRow] = []
        not_rows: set[int] = set()  # lines of malformed rows

        def on_invalid(row: pacsv.InvalidRow) -> str:
            not_rows.add(row.number)
            reason = f"expected {row.expected_columns} fields, found {row.actual_columns}"
            malformed.append(MalformedRow(row.number, row.text, reason))
            return "skip"

        parse_bytes = self._parse_bytes()
        per_block = max(1, self.block_bytes // parse_bytes)
        try:
            reader = pacsv.open_csv(
                self.path,
                read_options=pacsv.ReadOptions(
                    encoding=_CODEC[self.encoding],
                    block_size=parse_bytes,
                    column_names=self.header,
                    skip_rows=1,
                    use_threads=False,
                ),
                parse_options=pacsv.ParseOptions(
                    newlines_in_values=True,
                    invalid_row_handler=on_invalid,
                    ignore_empty_lines=False,  # read blank lines as rows, to count them
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in self.header},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            next_line = 2
            for parts in _groups(reader, per_block):
                bad, malformed[:] = list(malformed), []
                rows = sum(part.num_rows for part in parts)
                lines, next_line = _line_numbers(next_line, rows, not_rows)
                table = pa.Table.from_batches(parts, schema=reader.schema).combine_chunks()
                blank = _blank_rows(table)
                if blank is not None:
                    table, lines = table.filter(pc.invert(blank)), lines.filter(pc.invert(blank))
                self.limits.check_fields(str(self.path), table, lines)
                yield RawBatch(table, lines, bad)
            if malformed:
                yield RawBatch(_empty(self.header), pa.array([], pa.int64()), list(malformed))
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise ConnectorError(f"{self.path}: {self._explain(exc)}") from None

    def _explain(self, exc: Exception) -> str:
        message = str(exc)
        if isinstance(exc, UnicodeDecodeError) or "UTF8" in message or "decode" in message:
            return locate_decode_error(self.path, self.encoding)
        if "straddl" in message:  # pyarrow: a record longer than a parse block
            return (
                f"a record runs over {self._parse_bytes() >> 10:,} KiB: a quote is never "
                f"closed, or a value is over the field limit of "
                f"{self.limits.field_bytes >> 10:,} KiB ({FIELD_SETTING} raises it)"
            )
        return message.splitlines()[0]

    def _parse_bytes(self) -> int:
        """pyarrow's parse block, which bounds a record: at least twice the field limit (if
        the read block allows), so that a record of one long but allowed value parses."""
        return min(self.block_bytes, max(PARSE_BYTES, 2 * self.limits.field_bytes))


class _Lines:
    """The lines of a text for csv.reader, remembering the last one it took and whether it
    asked for more than there was (a record still open at the end of the text)."""

    def __init__(self, text: str):
        self._lines = iter(io.StringIO(text, newline=""))
        self.last = ""
        self.exhausted = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        try:
            self.last = next(self._lines)
        except StopIteration:
            self.exhausted = True
            raise
        return self.last


def _groups(reader: pacsv.CSVStreamingReader, size: int) -> Iterator[list[pa.RecordBatch]]:
    """The reader's record batches, `size` at a time (the last group may be shorter)."""
    group: list[pa.RecordBatch] = []
    for batch in reader:
        group.append(batch)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def _line_numbers(start: int, good: int, not_rows: set[int]) -> tuple[pa.Array, int]:
    """Line numbers of the next `good` rows from `start`, skipping lines that hold no good row."""
    lines = []
    line = start
    while len(lines) < good:
        if line not in not_rows:
            lines.append(line)
        line += 1
    return pa.array(lines, pa.int64()), line


def _blank_rows(table: pa.Table) -> pa.Array | None:
    """True for rows whose every field is empty (blank lines): they carry no data."""
    if table.num_rows == 0:
        return None
    blank = pc.equal(pc.utf8_length(table.column(0).combine_chunks()), 0)
    for column in table.columns[1:]:
        blank = pc.and_(blank, pc.equal(pc.utf8_length(column.combine_chunks()), 0))
    return blank if pc.any(blank).as_py() else None


def _empty(header: list[str]) -> pa.Table:
    return pa.table({name: pa.array([], pa.string()) for name in header})
