"""A department database: a table or query, read in full or incrementally by a watermark.

Incremental reads take rows whose watermark is past the last one seen, minus a look-back window,
so rows committed late with an older timestamp are not missed; rows read twice are harmless
because the merge leaves identical records alone. The watermark keeps its type (timestamp,
date or number).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import sqlalchemy as sa

from connectors import watermark as marks
from connectors.base import ConnectorError, RawBatch, repeated_names, strings
from connectors.limits import Limits


class SqlTable:
    kind = "sql"
    encoding = None
    empty_ok = True  # an incremental read may find nothing new

    def __init__(
        self,
        url: str,
        table: str | None = None,
        query: str | None = None,
        watermark: str | None = None,
        lookback_minutes: int = 60,
        batch_rows: int = 50_000,
        state: dict | None = None,
        limits: Limits | None = None,
    ):
        self.url = url
        self.table = table
        self.query = query
        self.watermark = watermark
        self.lookback_minutes = lookback_minutes
        self.batch_rows = batch_rows
        self.state = dict(state or {})
        safe_url = sa.make_url(url).render_as_string(hide_password=True)
        self.location = f"{safe_url} {table or 'query'}"
        self._seen = self.state.get("watermark")
        self.limits = limits or Limits.from_env()
        try:
            self.engine = sa.create_engine(url)
            with self.engine.connect() as conn:
                self.header = list(conn.execute(self._select(limit=0)).keys())
        except sa.exc.SQLAlchemyError as exc:
            raise ConnectorError(f"{self.location}: {_first_line(exc)}") from None
        self.limits.check_columns(self.location, len(self.header))
        self.limits.check_header_bytes(self.location, self.header)
        if repeated := repeated_names(self.header):
            raise ConnectorError(f"{self.location}: column {repeated[0]!r} appears twice")
        if watermark and watermark not in self.header:
            raise ConnectorError(f"{self.location}: watermark column {watermark!r} not found")

    def checksum(self) -> None:
        return None

    def _source(self) -> str:
        if self.query:
            return f"({self.query}) AS src"
        preparer = self.engine.dialect.identifier_preparer
        return ".".join(preparer.quote(part) for part in self.table.split("."))

    def _select(self, limit: int | None = None) -> sa.TextClause:
        sql = f"SELECT * FROM {self._source()}"
        params = {}
        last = self.state.get("watermark")
        if self.watermark and last is not None:
            sql += f" WHERE {self._quoted(self.watermark)} > :since"
            params["since"] = marks.rewind(last, self.lookback_minutes)
        if self.watermark:
            sql += f" ORDER BY {self._quoted(self.watermark)}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return sa.text(sql).bindparams(**params)

    def _quoted(self, column: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(column)

    def batches(self) -> Iterator[RawBatch]:
        line = 1
        position = self.header.index(self.watermark) if self.watermark else None
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(stream_results=True).execute(self._select())
                while rows := result.fetchmany(self.batch_rows):
                    columns = {name: [row[i] for row in rows] for i, name in enumerate(self.header)}
                    if position is not None:
                        self._seen = marks.newest((row[position] for row in rows), self._seen)
                    lines = pa.array(range(line, line + len(rows)), pa.int64())
                    table = strings(columns)
                    self.limits.check_fields(self.location, table, lines, line="row")
                    yield RawBatch(table, lines)
                    line += len(rows)
        except sa.exc.SQLAlchemyError as exc:
            raise ConnectorError(f"{self.location}: {_first_line(exc)}") from None
        finally:
            self.engine.dispose()

    def next_state(self, current: dict) -> dict:
        if not self.watermark:
            return {}
        return {"watermark": marks.newest([self._seen], current.get("watermark"))}


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
