"""A department database: a table or query, read in full or incrementally by a watermark.

Incremental reads take rows whose watermark is past the last one seen, minus a look-back window,
so rows committed late with an older timestamp are not missed; rows read twice are harmless
because the merge leaves identical records alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pyarrow as pa
import sqlalchemy as sa

from connectors.base import ConnectorError, RawBatch, latest_plausible, strings


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
    ):
        self.url = url
        self.table = table
        self.query = query
        self.watermark = watermark
        self.lookback = dt.timedelta(minutes=lookback_minutes)
        self.batch_rows = batch_rows
        self.state = dict(state or {})
        self.location = (
            f"{sa.make_url(url).render_as_string(hide_password=True)} {table or 'query'}"
        )
        self._seen: str | None = None
        try:
            self.engine = sa.create_engine(url)
            with self.engine.connect() as conn:
                self.header = list(conn.execute(self._select(limit=0)).keys())
        except sa.exc.SQLAlchemyError as exc:
            raise ConnectorError(f"{self.location}: {_first_line(exc)}") from None
        if watermark and watermark not in self.header:
            raise ConnectorError(f"{self.location}: watermark column {watermark!r} not found")

    def checksum(self) -> None:
        return None

    def _source(self, conn_dialect: sa.Dialect | None = None) -> str:
        if self.query:
            return f"({self.query}) AS src"
        preparer = (conn_dialect or self.engine.dialect).identifier_preparer
        return ".".join(preparer.quote(part) for part in self.table.split("."))

    def _since(self) -> str | None:
        last = self.state.get("watermark")
        if not (self.watermark and last):
            return None
        try:
            return (dt.datetime.fromisoformat(last) - self.lookback).isoformat(sep=" ")
        except ValueError:
            return last  # not a timestamp: no look-back

    def _select(self, limit: int | None = None) -> sa.TextClause:
        sql = f"SELECT * FROM {self._source()}"
        params = {}
        since = self._since()
        if since is not None:
            sql += f" WHERE {self._quoted(self.watermark)} > :since"
            params["since"] = since
        if self.watermark:
            sql += f" ORDER BY {self._quoted(self.watermark)}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return sa.text(sql).bindparams(**params)

    def _quoted(self, column: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(column)

    def batches(self) -> Iterator[RawBatch]:
        line = 1
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(stream_results=True).execute(self._select())
                while rows := result.fetchmany(self.batch_rows):
                    columns = {name: [row[i] for row in rows] for i, name in enumerate(self.header)}
                    table = strings(columns)
                    if self.watermark:
                        self._note(table.column(self.watermark))
                    yield RawBatch(table, pa.array(range(line, line + len(rows)), pa.int64()))
                    line += len(rows)
        except sa.exc.SQLAlchemyError as exc:
            raise ConnectorError(f"{self.location}: {_first_line(exc)}") from None
        finally:
            self.engine.dispose()

    def _note(self, values: pa.ChunkedArray) -> None:
        top = latest_plausible(values)
        if top is not None and (self._seen is None or top > self._seen):
            self._seen = top

    def next_state(self) -> dict:
        if not self.watermark:
            return self.state
        seen = self._seen
        if seen is None or (self.state.get("watermark") or "") > seen:
            seen = self.state.get("watermark")
        return {"watermark": seen}


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
