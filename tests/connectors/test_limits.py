"""No input stalls a load: limits on columns, header bytes and field size, for every connector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from connectors import ConnectorError
from connectors.csv_file import CsvFile
from connectors.http_api import HttpApi
from connectors.limits import (
    COLUMNS_SETTING,
    DEFAULT_COLUMNS,
    DEFAULT_FIELD_KB,
    DEFAULT_HEADER_KB,
    DEFAULT_PAGE_MB,
    FIELD_SETTING,
    HEADER_SETTING,
    PAGE_SETTING,
    Limits,
)
from connectors.sql_table import SqlTable
from connectors.xlsx_file import XlsxFile
from runtime.settings import SETTINGS
from tests.conftest import POSTGRES_URL, ROOT, _postgres_or_skip

WIDE_COLUMNS = 773_780


def wide_header(path, repeat_last: bool = False) -> None:
    """The issue's file: 773,780 short column names on one line (about 6 MB), one data row."""
    names = [f"c{i}" for i in range(WIDE_COLUMNS)]
    if repeat_last:
        names[-1] = "c0"
    path.write_text(",".join(names) + "\n" + ",".join("1" for _ in names) + "\n")


def open_in_subprocess(path, timeout: float = 30, **env: str) -> str:
    """Open the file as `gdx load` does, in a child bounded by `timeout`: what it raised."""
    script = (
        "import sys\n"
        "from connectors import ConnectorError\n"
        "from connectors.csv_file import CsvFile\n"
        "try:\n"
        "    CsvFile(sys.argv[1])\n"
        "except ConnectorError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    print('opened')\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GDX_MAX_")}
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        env=environment | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,  # a quadratic header check would take an hour and fail the test here
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_settings_are_declared_with_the_connectors_defaults():
    declared = {setting.env: setting.default for setting in SETTINGS}
    assert declared[COLUMNS_SETTING] == str(DEFAULT_COLUMNS)
    assert declared[HEADER_SETTING] == str(DEFAULT_HEADER_KB)
    assert declared[FIELD_SETTING] == str(DEFAULT_FIELD_KB)
    assert declared[PAGE_SETTING] == str(DEFAULT_PAGE_MB)


def test_a_header_of_773780_columns_fails_at_once(tmp_path):
    path = tmp_path / "wide.csv"
    wide_header(path)
    assert path.stat().st_size > 5_000_000
    message = open_in_subprocess(path)
    assert message == f"{path}: the header runs over 64 KiB (GDX_MAX_HEADER_KB raises the limit)"


def test_with_the_header_limit_raised_the_columns_limit_stops_it(tmp_path):
    path = tmp_path / "wide.csv"
    wide_header(path)
    message = open_in_subprocess(path, GDX_MAX_HEADER_KB="16384")
    assert message == (
        f"{path}: line 1: 773,780 columns, over the limit of 1,000 (GDX_MAX_COLUMNS raises it)"
    )


def test_with_every_limit_raised_the_header_check_is_still_linear(tmp_path):
    path = tmp_path / "wide.csv"
    wide_header(path, repeat_last=True)
    message = open_in_subprocess(path, GDX_MAX_HEADER_KB="16384", GDX_MAX_COLUMNS="1000000")
    assert message == f"{path}: line 1: header 'c0' appears twice"


def test_a_single_huge_line_fails_naming_the_file_after_reading_only_the_limit(
    tmp_path, monkeypatch
):
    """The issue's 200 MB line, scaled down with the setting: 8 MB against a 16 KiB limit."""
    monkeypatch.setenv("GDX_MAX_HEADER_KB", "16")
    path = tmp_path / "one line.csv"
    path.write_bytes(b"x" * (8 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(ConnectorError) as raised:
            CsvFile(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(raised.value) == (
        f"{path}: the header runs over 16 KiB (GDX_MAX_HEADER_KB raises the limit)"
    )
    assert peak < 3 << 20  # the encoding sample (1 MiB) and the header, never the line


@pytest.mark.parametrize(
    "content",
    [
        b'a,"b\n' + b"x" * 20_000 + b'",c\n1,2,3\n',  # a quoted header value across lines
        b'a,"b' + b"y" * 20_000 + b"\n",  # a quote never closed
    ],
    ids=["quoted", "unclosed"],
)
def test_a_quoted_header_past_the_limit_fails(tmp_path, monkeypatch, content):
    monkeypatch.setenv("GDX_MAX_HEADER_KB", "16")
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    with pytest.raises(ConnectorError, match="the header runs over 16 KiB"):
        CsvFile(path)


def test_a_header_just_under_the_limits_loads(tmp_path):
    names = [f"{i:04d}" + "n" * 59 for i in range(DEFAULT_COLUMNS)]  # 1,000 names of 63 bytes
    header = ",".join(names) + "\n"
    assert len(header) <= DEFAULT_HEADER_KB << 10
    path = tmp_path / "f.csv"
    path.write_text(header + ",".join("v" for _ in names) + "\n" + ",".join(names) + "\n")
    reader = CsvFile(path)
    assert reader.header == names
    rows = [row for batch in reader.batches() for row in batch.table.to_pylist()]
    assert len(rows) == 2 and rows[1][names[-1]] == names[-1]


def test_one_column_too_many_fails(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(",".join(f"c{i}" for i in range(DEFAULT_COLUMNS + 1)) + "\n1\n")
    with pytest.raises(ConnectorError) as raised:
        CsvFile(path)
    assert str(raised.value) == (
        f"{path}: line 1: 1,001 columns, over the limit of 1,000 (GDX_MAX_COLUMNS raises it)"
    )


def test_a_header_that_ends_the_file_without_a_line_break_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("GDX_MAX_HEADER_KB", "1")
    path = tmp_path / "f.csv"
    path.write_text("a," + "b" * 900)
    assert CsvFile(path).header == ["a", "b" * 900]


def test_a_value_at_the_field_limit_loads_and_one_byte_more_fails(tmp_path):
    limit = DEFAULT_FIELD_KB << 10
    path = tmp_path / "f.csv"
    path.write_text(f"id,note\n1,{'x' * limit}\n2,short\n3,{'y' * (limit + 1)}\n")
    with pytest.raises(ConnectorError) as raised:
        list(CsvFile(path).batches())
    assert str(raised.value) == (
        f"{path}: line 4, column 'note': a value of 131,073 bytes, over the field limit of "
        "128 KiB (GDX_MAX_FIELD_KB raises it)"
    )
    path.write_text(f"id,note\n1,{'x' * limit}\n2,short\n")
    rows = [row for batch in CsvFile(path).batches() for row in batch.table.to_pylist()]
    assert [len(row["note"]) for row in rows] == [limit, 5]


def test_the_field_limit_counts_bytes_and_is_a_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("GDX_MAX_FIELD_KB", "1")
    path = tmp_path / "f.csv"
    path.write_text(f"id,name\n1,{'张' * 341}\n2,{'张' * 342}\n", encoding="utf-8")  # 1023, 1026
    with pytest.raises(ConnectorError, match=r"line 3, column 'name': a value of 1,026 bytes"):
        list(CsvFile(path).batches())


def test_a_huge_data_line_fails_naming_the_file_and_the_setting(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"id,name\n" + b"z" * (4 << 20) + b"\n1,2\n")
    with pytest.raises(ConnectorError) as raised:
        list(CsvFile(path).batches())
    assert str(raised.value).startswith(f"{path}: a record runs over 1,024 KiB")
    assert "GDX_MAX_FIELD_KB" in str(raised.value)


def test_a_raised_field_limit_raises_the_record_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("GDX_MAX_FIELD_KB", "4096")
    path = tmp_path / "f.csv"
    path.write_text(f"id,note\n1,{'x' * (3 << 20)}\n")
    (batch,) = list(CsvFile(path).batches())
    assert len(batch.table.column("note")[0].as_py()) == 3 << 20


@pytest.mark.parametrize("value", ["0", "-1", "lots", "1.5"])
def test_a_bad_setting_is_one_line(tmp_path, monkeypatch, value):
    monkeypatch.setenv("GDX_MAX_COLUMNS", value)
    path = tmp_path / "f.csv"
    path.write_text("a\n1\n")
    with pytest.raises(ConnectorError, match="GDX_MAX_COLUMNS: expected a positive whole number"):
        CsvFile(path)


def _workbook(path, rows) -> None:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("人口")
    for row in rows:
        sheet.append(row)
    book.save(path)


KNOWN = {"id_number", "name"}.__contains__


def test_a_workbook_too_wide_fails_before_its_header_is_looked_for(tmp_path):
    path = tmp_path / "wide.xlsx"
    _workbook(path, [["id_number", "name", *(f"c{i}" for i in range(3000))], ["1", "张三"]])
    with pytest.raises(ConnectorError) as raised:
        XlsxFile(path, KNOWN)
    assert str(raised.value) == (
        f"{path}: sheet 人口: row 1: 3,002 columns, over the limit of 1,000 "
        "(GDX_MAX_COLUMNS raises it)"
    )


def test_a_workbook_header_is_checked_for_repeats_in_one_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("GDX_MAX_COLUMNS", "20000")
    names = ["id_number", "name", *(f"c{i}" for i in range(16000)), "name"]
    path = tmp_path / "wide.xlsx"
    _workbook(path, [names, ["1", "张三"]])
    with pytest.raises(ConnectorError, match="row 1: header 'name' appears twice"):
        XlsxFile(path, KNOWN)


def test_a_workbook_value_over_the_field_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("GDX_MAX_FIELD_KB", "1")
    path = tmp_path / "f.xlsx"
    _workbook(path, [["id_number", "name"], ["1", "张三"], ["2", "x" * 2000]])
    reader = XlsxFile(path, KNOWN)
    with pytest.raises(ConnectorError) as raised:
        list(reader.batches())
    assert str(raised.value) == (
        f"{path}: sheet 人口: row 3, column 'name': a value of 2,000 bytes, over the field "
        "limit of 1 KiB (GDX_MAX_FIELD_KB raises it)"
    )


def test_a_database_table_too_wide_or_with_a_value_too_long(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'dept.db'}"
    db = sa.create_engine(url)
    with db.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (a TEXT, b TEXT, c TEXT)"))
        conn.execute(sa.text("INSERT INTO t VALUES ('1', 'x', :long)"), {"long": "y" * 2000})
    db.dispose()
    monkeypatch.setenv("GDX_MAX_COLUMNS", "2")
    with pytest.raises(ConnectorError, match=r" t: 3 columns, over the limit of 2 \("):
        SqlTable(url, table="t")
    monkeypatch.setenv("GDX_MAX_COLUMNS", "3")
    monkeypatch.setenv("GDX_MAX_FIELD_KB", "1")
    with pytest.raises(ConnectorError, match="row 1, column 'c': a value of 2,000 bytes"):
        list(SqlTable(url, table="t").batches())


def test_a_query_that_names_a_column_twice():
    _postgres_or_skip()  # SQLite renames the second `a` of a subquery; PostgreSQL keeps it
    with pytest.raises(ConnectorError, match="column 'a' appears twice"):
        SqlTable(POSTGRES_URL, query="SELECT 1 AS a, 2 AS b, 3 AS a")


class _Page(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body if "page=1&" in self.path else b'{"data": []}')

    def log_message(self, *args):
        pass


@pytest.fixture
def page_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_api_records_with_too_many_keys_or_a_value_too_long(page_server, monkeypatch):
    record = {f"k{i}": i for i in range(1500)}
    _Page.body = json.dumps({"data": [record, record]}).encode()
    with pytest.raises(ConnectorError) as raised:
        HttpApi(page_server, "/people")
    assert str(raised.value) == (
        f"{page_server}/people: the first page's records: 1,500 columns, over the limit of "
        "1,000 (GDX_MAX_COLUMNS raises it)"
    )
    monkeypatch.setenv("GDX_MAX_FIELD_KB", "1")
    _Page.body = json.dumps({"data": [{"id": 1, "note": "ok"}, {"id": 2, "note": "n" * 1025}]})
    _Page.body = _Page.body.encode()
    reader = HttpApi(page_server, "/people")
    with pytest.raises(ConnectorError, match="record 2, column 'note': a value of 1,025 bytes"):
        list(reader.batches())


def test_limits_from_the_environment(monkeypatch):
    monkeypatch.setenv("GDX_MAX_COLUMNS", "7")
    monkeypatch.setenv("GDX_MAX_HEADER_KB", "2")
    monkeypatch.delenv("GDX_MAX_FIELD_KB", raising=False)
    monkeypatch.setenv("GDX_MAX_PAGE_MB", "3")
    assert Limits.from_env() == Limits(
        columns=7, header_bytes=2048, field_bytes=128 << 10, page_bytes=3 << 20
    )


class _Trickle(BaseHTTPRequestHandler):
    """A page that arrives a few bytes at a time, each well inside the read timeout."""

    def do_GET(self):
        body = json.dumps({"data": [{"id": n} for n in range(50)]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for start in range(0, len(body), 16):
            self.wfile.write(body[start : start + 16])
            self.wfile.flush()
            time.sleep(0.1)

    def log_message(self, *args):
        pass


def test_a_page_that_trickles_in_is_cut_off_at_the_timeout():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    started = time.monotonic()
    try:
        with pytest.raises(ConnectorError, match=r"a page took more than 1 s to arrive"):
            HttpApi(url, "/people", timeout_seconds=1, retries=0)
    finally:
        server.shutdown()
    assert time.monotonic() - started < 10  # not the minute of a whole trickle


def test_a_page_over_the_page_limit_fails(page_server, monkeypatch):
    monkeypatch.setenv("GDX_MAX_PAGE_MB", "1")
    _Page.body = json.dumps({"data": [{"id": n, "note": "x" * 1000} for n in range(1100)]})
    _Page.body = _Page.body.encode()
    with pytest.raises(ConnectorError) as raised:
        HttpApi(page_server, "/people")
    assert str(raised.value) == (
        f"{page_server}/people: a page over 1 MiB (GDX_MAX_PAGE_MB raises the limit)"
    )
