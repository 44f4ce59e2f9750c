"""Engines for the embedded default (SQLite) and production (PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from runtime import settings

#: A pooled connection idle longer than this is tested before use (see `_ping_if_idle`).
IDLE_PING_SECONDS = 10.0
#: Connections are replaced after an hour, before firewalls or the server drop them.
RECYCLE_SECONDS = 3600
#: PostgreSQL transactions read committed rows whatever the server's default: a writer that
#: waits for an advisory lock (`writing`, the audit chain) then reads what the writer before it
#: committed, where a REPEATABLE READ snapshot taken before the lock would not see it.
WRITE_ISOLATION = "READ COMMITTED"


def create(url: str | None = None, serving: bool = False) -> sa.Engine:
    """An engine for `url` (default: the GDX_DATABASE_URL setting).

    SQLite gets real transactions (DDL included), WAL and a busy timeout, so that a batch
    commits or rolls back whole. `serving`: the API server's engine; on PostgreSQL its pool
    is sized for the server, tests a connection only when it sat idle (`_ping_if_idle`) and
    reads outside transactions; write on it only through `writing`.
    """
    url = url or settings.database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30}, json_serializer=_json)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if not serving:
        return sa.create_engine(
            url, pool_pre_ping=True, json_serializer=_json, isolation_level=WRITE_ISOLATION
        )
    # reads without a transaction: psycopg2 would otherwise spend a round trip on BEGIN and
    # one on ROLLBACK around every read, and each statement sees its own snapshot either way
    # (READ COMMITTED); `writing` gives a writer its transaction back
    engine = sa.create_engine(
        url,
        # per worker process: a request holds a connection only while it runs in the thread
        # pool (40 threads), so 40 are the most it can use; all of them are kept (GDX_API_POOL):
        # with 20 kept and 20 more when busy, 64 concurrent calls on 2 workers opened and
        # closed about 5 PostgreSQL connections a second (a backend process each)
        pool_size=settings.positive("GDX_API_POOL"),
        max_overflow=0,
        pool_recycle=RECYCLE_SECONDS,
        json_serializer=_json,
        isolation_level="AUTOCOMMIT",
        execution_options={"gdx_autocommit": True},
    )
    event.listen(engine, "checkin", _checked_in)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


def _checked_in(_dbapi_connection, record) -> None:
    record.info["gdx_idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
    # pool_pre_ping costs a round trip on every checkout, a tenth of a record call; a
    # connection reused within seconds is alive (and if the server went away meanwhile, the
    # first failing statement invalidates the whole pool, see services.deps). One that sat
    # idle is tested here; DisconnectionError makes the pool replace it with a new one.
    idle_since = record.info.get("gdx_idle_since")
    if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()
    except Exception as exc:
        raise sa.exc.DisconnectionError(f"idle connection is gone: {exc}") from exc


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _sqlite_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below own transactions
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection) -> None:
    # a writer takes the write lock up front, so that it waits for another writer (busy
    # timeout) instead of failing when it upgrades a read lock; readers stay deferred
    immediate = connection.get_execution_options().get("gdx_write")
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def writing(engine: sa.Engine, lock: str | None = None) -> Iterator[sa.Connection]:
    """A write transaction: committed when the block ends, rolled back when it raises.

    With `lock` (a resource code), writers of the same resource run one after the other: on
    PostgreSQL through a transaction-scoped advisory lock, on SQLite through its single writer.
    Two departments delivering the same new key at once both land, one after the other.
    """
    with engine.connect() as conn:
        conn.execution_options(gdx_write=True)
        if conn.get_execution_options().get("gdx_autocommit"):
            # the API engine reads outside transactions (`create`); a writer needs one
            conn.execution_options(isolation_level=WRITE_ISOLATION)
        with conn.begin():
            if lock and is_postgres(conn):
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_id(lock))))
            yield conn


def lock_id(name: str) -> int:
    """A stable signed 64-bit id for an advisory lock."""
    digest = hashlib.sha256(f"gdx:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def is_postgres(engine: sa.Engine | sa.Connection) -> bool:
    return engine.dialect.name == "postgresql"


def describe(engine: sa.Engine) -> str:
    """The engine's URL without its password."""
    return engine.url.render_as_string(hide_password=True)
