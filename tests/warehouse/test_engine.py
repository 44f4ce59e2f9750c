"""The API server's engine (`create(serving=True)`) on PostgreSQL: reads outside transactions,
writers through `writing` still atomic."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from warehouse import engine as engines
from warehouse.tables import api_consumer


@pytest.fixture
def serving(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the serving engine differs on PostgreSQL only")
    created = engines.create(engine.url.render_as_string(hide_password=False), serving=True)
    yield created
    created.dispose()


def _autocommit(conn: sa.Connection) -> bool:
    return conn.connection.dbapi_connection.autocommit


def test_reads_outside_transactions_writes_inside_one(serving):
    with serving.connect() as conn:
        assert _autocommit(conn)  # no BEGIN and ROLLBACK round trips around a read
    values = {"name": "x", "department": "d", "key_hash": "h" * 64, "key_prefix": "gdx_"}
    with pytest.raises(RuntimeError), engines.writing(serving) as conn:
        assert not _autocommit(conn)
        conn.execute(api_consumer.insert().values(**values, created_at=sa.func.now()))
        raise RuntimeError("the writer fails after its insert")
    with serving.connect() as conn:
        assert _autocommit(conn)  # the pool gave the connection back its read mode
        assert conn.execute(sa.select(sa.func.count()).select_from(api_consumer)).scalar() == 0
    with engines.writing(serving) as conn:
        conn.execute(api_consumer.insert().values(**values, created_at=sa.func.now()))
    with serving.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(api_consumer)).scalar() == 1


def test_the_pool_follows_gdx_api_pool(engine, monkeypatch):
    if engine.dialect.name != "postgresql":
        pytest.skip("the serving engine differs on PostgreSQL only")
    monkeypatch.setenv("GDX_API_POOL", "3")
    sized = engines.create(engine.url.render_as_string(hide_password=False), serving=True)
    try:
        assert (sized.pool.size(), sized.pool._max_overflow) == (3, 0)
    finally:
        sized.dispose()
    monkeypatch.setenv("GDX_API_POOL", "none")
    with pytest.raises(ValueError, match="GDX_API_POOL"):
        engines.create(engine.url.render_as_string(hide_password=False), serving=True)


@pytest.mark.parametrize("serving_engine", [False, True])
def test_writers_read_committed_whatever_the_server_default(engine, serving_engine):
    # a writer waiting on an advisory lock must then see what the writer before it committed;
    # a server whose default is SERIALIZABLE (or REPEATABLE READ) would hand it an old snapshot
    if engine.dialect.name != "postgresql":
        pytest.skip("isolation levels are PostgreSQL's")
    url = engine.url
    options = f"{url.query['options']} -cdefault_transaction_isolation=serializable"
    url = url.update_query_dict({"options": options})
    strict = engines.create(url.render_as_string(hide_password=False), serving=serving_engine)
    try:
        with strict.connect() as conn:
            assert conn.exec_driver_sql("SHOW default_transaction_isolation").scalar() == (
                "serializable"
            )
        with engines.writing(strict, lock="population.person") as conn:
            level = conn.exec_driver_sql("SHOW transaction_isolation").scalar()
        assert level == "read committed"
    finally:
        strict.dispose()
