"""Engines for the embedded default (SQLite) and production (PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from warehouse import settings


def create(url: str | None = None) -> sa.Engine:
    """An engine for `url` (default: the GDX_DATABASE_URL setting).

    SQLite gets real transactions (DDL included), WAL and a busy timeout, so that a batch
    commits or rolls back whole.
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
    return sa.create_engine(url, pool_pre_ping=True, json_serializer=_json)


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
