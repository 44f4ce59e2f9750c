"""Files a department uploads: judged by their content (not their name), kept in a temporary
file under GDX_HOME for as long as the work on them takes, then deleted.

The uploaded file's name is data: it is shown (escaped) and recorded, never used as a path.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from connectors.base import ConnectorError
from connectors.csv_file import ENCODINGS, detect_encoding
from runtime import settings

FOLDER = "portal_uploads"
MAX_NAME = 200
# the start of files people upload by mistake, named as what they are
SIGNATURES = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Office file (.xls or .doc): save it as .xlsx or .csv"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"MZ", "a program"),
    (b"\x7fELF", "a program"),
)
SAMPLE = 64 << 10


class UploadRefused(Exception):
    """The upload is not a file of the kind asked for; the message says why, for people."""


def shown_name(name: str | None) -> str:
    """The uploaded file's name as it may be shown and recorded: its last part, one line."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch if ch.isprintable() else "?" for ch in base).strip()
    return text[:MAX_NAME] or "(no name)"


def table_kind(content: bytes) -> str:
    """`csv` or `xlsx`, judged by the content; UploadRefused for anything else (an image, an
    archive that is no workbook, a binary file, a text in no encoding the hub reads)."""
    if not content:
        raise UploadRefused("文件为空。 The file is empty.")
    if content.startswith(b"PK\x03\x04"):
        if _is_workbook(content):
            return "xlsx"
        raise UploadRefused(
            "文件是压缩包，不是 Excel 工作簿。 The file is a zip archive, not an .xlsx workbook."
        )
    _check_not_binary(content)
    if not _decodes(content[:SAMPLE], ENCODINGS):
        raise UploadRefused(
            "无法识别文件编码（应为 UTF-8、GBK 或 GB18030 的 CSV）。 The file's encoding is "
            "none the hub reads: save the CSV as UTF-8, GBK or GB18030."
        )
    return "csv"


def text_kind(content: bytes, name: str) -> str:
    """`csv`, `yaml` (by the name's extension, the content being text): directory entries."""
    if not content:
        raise UploadRefused("文件为空。 The file is empty.")
    _check_not_binary(content)
    suffix = Path(shown_name(name)).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".csv":
        return "csv"
    raise UploadRefused(
        "请上传资源目录 YAML 文件（.yaml）或目录编制 CSV 文件（.csv）。 Upload a resource "
        "declaration (.yaml) or the compilation guide's directory CSV (.csv)."
    )


def _check_not_binary(content: bytes) -> None:
    for signature, kind in SIGNATURES:
        if content.startswith(signature):
            raise UploadRefused(f"文件不是表格文本。 The file is {kind}, not a CSV.")
    if b"\x00" in content[:SAMPLE]:
        raise UploadRefused("文件是二进制文件，不是 CSV 文本。 The file is binary, not a CSV text.")


def _is_workbook(content: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return "[Content_Types].xml" in names and "xl/workbook.xml" in names


def _decodes(sample: bytes, encodings: tuple[str, ...]) -> bool:
    for encoding in encodings:
        try:
            sample.decode(encoding)
            return True
        except UnicodeDecodeError as exc:
            if exc.start >= len(sample) - 4:  # a character cut by the sample's end
                return True
    return False


@contextlib.contextmanager
def kept(content: bytes, suffix: str) -> Iterator[Path]:
    """The content in a new temporary file under GDX_HOME (its name the hub's own), deleted
    when the block ends."""
    folder = settings.home() / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix="upload-", suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        yield path
    finally:
        path.unlink(missing_ok=True)


def column_numbers(path: Path, kind: str, column: str) -> set[int]:
    """The whole numbers in one column of an uploaded table (none when it has no such column
    or cannot be read: the batch, which read it first, says what is wrong with it)."""
    try:
        if kind == "xlsx":
            import openpyxl

            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                return _numbers(book.worksheets[0].iter_rows(values_only=True), column)
            finally:
                book.close()
        encoding = detect_encoding(path)
        with path.open(encoding=encoding, errors="replace", newline="") as handle:
            return _numbers(csv.reader(handle), column)
    except (ConnectorError, csv.Error, OSError, ValueError, KeyError, zipfile.BadZipFile):
        return set()


def _numbers(rows, column: str) -> set[int]:
    header = [str(cell or "").strip() for cell in next(rows, None) or []]
    if column not in header:
        return set()
    at = header.index(column)
    found = set()
    for row in rows:
        value = str(row[at]).strip() if at < len(row) and row[at] is not None else ""
        if value.isdigit():
            found.add(int(value))
    return found
