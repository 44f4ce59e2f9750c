"""The connector contract (tests/connectors/contract.py), run for every kind."""

from __future__ import annotations

import csv
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from connectors.csv_file import CsvFile
from connectors.drop_folder import DropFolder
from connectors.http_api import HttpApi
from connectors.sql_table import SqlTable
from tests.conftest import POSTGRES_URL, _postgres_or_skip
from tests.connectors.contract import ConnectorContract

FIELDS = ["id_number", "name", "birth_date", "updated_at"]


def write_csv(path, rows, encoding="utf-8"):
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        writer.writerows(rows)


class TestCsvContract(ConnectorContract):
    """A CSV file is a full delivery: its state is its checksum; a new file is a new delivery."""

    def make(self, tmp_path, rows):
        self.path = tmp_path / "people.csv"
        self.all = list(rows)
        write_csv(self.path, rows, "gbk")

    def add(self, rows):
        self.all += rows
        write_csv(self.path, self.all, "gbk")

    def break_source(self):
        self.path.write_bytes(self.path.read_bytes()[:200] + b"\xff\xfe\xfd")

    def pending(self, state):
        if state.get("checksum") and state["checksum"] == CsvFile(self.path).checksum():
            return []
        return [lambda: CsvFile(self.path, block_bytes=16 << 10)]

    def test_resumes_from_state(self):
        _, state = self.read({})
        assert self.read(state)[0] == []
        self.add([{"id_number": "ID999999", "name": "新", "birth_date": "", "updated_at": ""}])
        assert len(self.read(state)[0]) == self.rows + 1  # a full file: everything again


class TestDropFolderContract(ConnectorContract):
    def make(self, tmp_path, rows):
        self.folder = tmp_path / "drop"
        self.folder.mkdir()
        self.count = 0
        self.add(rows[:600])
        self.add(rows[600:])

    def add(self, rows):
        self.count += 1
        path = self.folder / f"delivery-{self.count:03d}.csv"
        write_csv(path, rows)
        time.sleep(0.01)  # distinct arrival times

    def break_source(self):
        (self.folder / "zzz-broken.csv").write_bytes(b"")

    def pending(self, state):
        return DropFolder(self.folder, block_bytes=16 << 10).pending(state)

    def test_each_file_once_in_arrival_order(self):
        openers = self.pending({})
        assert [opener().location.rsplit("/", 1)[1] for opener in openers] == [
            "delivery-001.csv",
            "delivery-002.csv",
        ]

    def test_a_missing_folder_is_an_error(self):
        from connectors import ConnectorError

        with pytest.raises(ConnectorError, match="drop folder not found"):
            DropFolder(self.tmp_path / "nope").pending({})


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'department.db'}"
        return
    _postgres_or_skip()
    name = f"dept_{int(time.time() * 1e6) % 10**12}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
    admin.dispose()


class TestSqlContract(ConnectorContract):
    """A department database table read incrementally by `updated_at` (real SQLite and PG)."""

    @pytest.fixture(autouse=True)
    def _source(self, tmp_path, database_url):
        self.tmp_path = tmp_path
        self.url = database_url
        self.engine = sa.create_engine(database_url)
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE insured (id_number VARCHAR(18) PRIMARY KEY, name TEXT, "
                "birth_date DATE, updated_at TIMESTAMP)"
            )
        from tests.connectors.contract import people

        self.add(people(0, self.rows))
        yield
        self.engine.dispose()

    def add(self, rows):
        with self.engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO insured VALUES (:id_number, :name, :birth_date, :updated_at)"),
                [row | {"birth_date": "1990-01-02"} for row in rows],
            )

    def break_source(self):
        self.url = "postgresql+psycopg2://postgres@127.0.0.1:1/none"

    def pending(self, state):
        return [
            lambda: SqlTable(
                self.url,
                table="insured",
                watermark="updated_at",
                lookback_minutes=0,
                batch_rows=500,
                state=state,
            )
        ]

    def test_dates_and_timestamps_read_as_iso_text(self):
        rows, _ = self.read({})
        assert rows[0]["birth_date"] == "1990-01-02"
        assert rows[1]["updated_at"].startswith("2026-01-01 08:01:00")

    def test_lookback_rereads_late_rows(self):
        _, state = self.read({})
        late = dict(people_row(5000), updated_at="2026-01-01 07:59:00")  # committed late, old time
        self.add([late])
        reader = SqlTable(
            self.url, table="insured", watermark="updated_at", lookback_minutes=24 * 60, state=state
        )
        rows = [row for batch in reader.batches() for row in batch.table.to_pylist()]
        assert "ID005000" in {row["id_number"] for row in rows}


def people_row(n: int) -> dict:
    from tests.connectors.contract import people

    return people(n, 1)[0]


class _Api(BaseHTTPRequestHandler):
    rows: list[dict] = []
    failures: list[int] = []  # status codes to answer before serving normally
    not_json = False
    stuck_cursor = False

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        if self.headers.get("Authorization") != "Bearer s3cret":
            return self._send(401, b'{"error": "unauthorized"}')
        if _Api.failures:
            return self._send(_Api.failures.pop(0), b"oops")
        if _Api.not_json:
            return self._send(200, b"<html>maintenance</html>")
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        rows = [r for r in _Api.rows if r["updated_at"] > query.get("since", "")]
        if _Api.stuck_cursor:
            return self._send(200, json.dumps({"data": [], "next_cursor": "again"}).encode())
        if "offset" in query:  # offset paging
            start, size = int(query["offset"]), min(1000, int(query["limit"]))
        elif "limit" in query:  # cursor paging: the cursor is the next start, as text
            start, size = int(query.get("cursor", 0)), int(query["limit"])
        else:
            size = min(1000, int(query.get("page_size", 100)))  # the server caps pages
            start = (int(query.get("page", 1)) - 1) * size
        chunk = rows[start : start + size]
        more = start + size < len(rows)
        body = {"data": chunk, "next_cursor": str(start + size) if more else None}
        self._send(200, json.dumps(body).encode())

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def api_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Api.rows, _Api.failures, _Api.not_json = [], [], False
    yield f"http://:s3cret@127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class TestHttpContract(ConnectorContract):
    """A paged JSON API with a `since` parameter, served by a real local server."""

    @pytest.fixture(autouse=True)
    def _source(self, tmp_path, api_server):
        from tests.connectors.contract import people

        self.url = api_server
        _Api.rows = people(0, self.rows)
        yield

    def add(self, rows):
        _Api.rows += rows

    def break_source(self):
        _Api.failures = [500] * 10

    def pending(self, state):
        return [lambda: self.api(state)]

    def api(self, state, **kw):
        options = {
            "page_size": 100,
            "since_param": "since",
            "since_field": "updated_at",
            "retries": 2,
            "backoff_seconds": 0.01,
            "state": state,
            "lookback_minutes": 0,
        }
        return HttpApi(self.url, "/people", **(options | kw))

    def test_the_lookback_rereads_the_last_hour(self):
        _, state = self.read({})
        reader = self.api(state, lookback_minutes=60)
        again = [row for batch in reader.batches() for row in batch.table.to_pylist()]
        assert len(again) == 60  # rows are a minute apart
        assert reader.next_state(state) == state

    def test_declared_columns_survive_pages_that_leave_them_out(self):
        reader = self.api({}, expected=["id_number", "phone"])
        rows = [row for batch in reader.batches() for row in batch.table.to_pylist()]
        assert reader.header[:2] == ["id_number", "phone"]
        assert len(rows) == self.rows and rows[0]["phone"] is None

    def test_a_repeated_cursor_is_an_error_not_a_loop(self):
        from connectors import ConnectorError

        _Api.stuck_cursor = True
        try:
            with pytest.raises(ConnectorError, match="repeated cursor|more than"):
                list(self.api({}, paging="cursor").batches())
        finally:
            _Api.stuck_cursor = False

    def test_a_server_that_caps_the_page_size_is_read_to_the_end(self):
        rows = [
            row
            for batch in self.api({}, page_size=5000).batches()
            for row in batch.table.to_pylist()
        ]
        assert len(rows) == self.rows

    def test_5xx_is_retried_then_served(self):
        _Api.failures = [503, 502]
        rows, _ = self.read({})
        assert len(rows) == self.rows

    def test_4xx_is_not_retried(self):
        from connectors import ConnectorError

        _Api.failures = [404, 200]
        with pytest.raises(ConnectorError, match="HTTP 404"):
            self.read({})
        assert _Api.failures == [200]  # asked once

    def test_a_page_that_is_not_json(self):
        from connectors import ConnectorError

        _Api.not_json = True
        with pytest.raises(ConnectorError, match="not JSON"):
            self.read({})

    def test_the_token_comes_from_the_connection(self):
        from connectors import ConnectorError

        with pytest.raises(ConnectorError, match="HTTP 401"):
            HttpApi(self.url.replace(":s3cret@", ""), "/people")

    def test_a_failure_part_way_raises(self):
        from connectors import ConnectorError

        reader = self.api({}, retries=1)
        batches = reader.batches()
        next(batches)
        _Api.failures = [500, 500]
        with pytest.raises(ConnectorError, match="HTTP 500 Internal Server Error after 2 attempts"):
            list(batches)


class TestXlsxContract(ConnectorContract):
    """A workbook with a title row is a full delivery, like a CSV file."""

    def make(self, tmp_path, rows):
        import openpyxl

        self.path = tmp_path / "people.xlsx"
        self.all = list(rows)
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["人员名单"])
        sheet.append(FIELDS)
        for row in rows:
            sheet.append([row[f] for f in FIELDS])
        book.save(self.path)

    def add(self, rows):
        self.make(self.tmp_path, self.all + rows)

    def break_source(self):
        self.path.write_bytes(self.path.read_bytes()[:300])

    def pending(self, state):
        from connectors.base import file_checksum
        from connectors.xlsx_file import XlsxFile

        if state.get("checksum") == file_checksum(self.path):
            return []
        known = {"id_number", "name", "birth_date", "updated_at"}.__contains__
        return [lambda: XlsxFile(self.path, known, batch_rows=500)]

    def test_resumes_from_state(self):
        _, state = self.read({})
        assert self.read(state)[0] == []
        self.add([{"id_number": "ID999999", "name": "新", "birth_date": None, "updated_at": None}])
        assert len(self.read(state)[0]) == self.rows + 1


class TestHttpOffsetPagingContract(TestHttpContract):
    def api(self, state, **kw):
        return super().api(state, **({"paging": "offset"} | kw))


class TestHttpCursorPagingContract(TestHttpContract):
    def api(self, state, **kw):
        return super().api(state, **({"paging": "cursor"} | kw))
