"""`GET /healthz`: ok when the database answers, 503 with the reason when not, never a hang."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.app import create_app
from services.routes import health
from warehouse import consumers
from warehouse import engine as engines


def test_ok(engine, catalog):
    response = TestClient(create_app(engine, catalog)).get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_unreachable_database_is_503(catalog, tmp_path):
    broken = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'folder' / 'gdx.db'}")
    response = TestClient(create_app(broken, catalog)).get("/healthz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 503 and body["title"] == "Service Unavailable"
    assert body["detail"].startswith("the database did not answer SELECT 1: ")
    assert "unable to open database file" in body["detail"]


def test_hanging_database_is_503_within_the_timeout(catalog, tmp_path, monkeypatch):
    monkeypatch.setattr(health, "TIMEOUT_SECONDS", 0.2)
    release = threading.Event()
    calls = []
    stuck = sa.create_engine(f"sqlite:///{tmp_path / 'gdx.db'}")

    @sa.event.listens_for(stuck, "connect")
    def hang(dbapi_connection, record) -> None:
        calls.append(1)
        release.wait(10)

    client = TestClient(create_app(stuck, catalog))
    try:
        start = time.monotonic()
        response = client.get("/healthz")
        assert time.monotonic() - start < 2
        assert response.status_code == 503
        assert response.json()["detail"].endswith("SELECT 1: no answer within 0.2 s")
        assert client.get("/healthz").status_code == 503
        assert len(calls) == 1  # later calls wait for the hanging check, they start no other
    finally:
        release.set()
    for _ in range(50):
        if client.get("/healthz").status_code == 200:
            break
        time.sleep(0.05)
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}


def _serving_or_skip(engine) -> sa.Engine:
    """The API server's engine (engine.create(serving=True)) on `engine`'s PostgreSQL schema."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the serving pool differs on PostgreSQL only")
    return engines.create(engine.url.render_as_string(hide_password=False), serving=True)


def _kill_pooled_connection(serving: sa.Engine, engine: sa.Engine) -> None:
    """End the backend of the serving pool's connection, as a database restart would."""
    with serving.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    time.sleep(0.2)


def test_a_dead_pooled_connection_is_replaced_not_reported(engine, catalog):
    serving = _serving_or_skip(engine)
    try:
        assert not serving.pool._pre_ping  # no round trip per checkout
        assert (serving.pool.size(), serving.pool._max_overflow) == (40, 0)  # GDX_API_POOL default
        _kill_pooled_connection(serving, engine)
        response = TestClient(create_app(serving, catalog)).get("/healthz")
        assert response.json() == {"status": "ok", "database": "ok"}
        # a data call after a restart: its consumer read is tried again on a new connection
        with serving.begin() as conn:
            _, key = consumers.add(conn, "approval", "government_services")
        _kill_pooled_connection(serving, engine)
        client = TestClient(create_app(serving, catalog), headers={"X-API-Key": key})
        assert client.get("/api/v1/service-items").status_code == 200
    finally:
        serving.dispose()


def test_a_connection_idle_for_long_is_tested_before_use(engine, monkeypatch):
    serving = _serving_or_skip(engine)
    try:
        _kill_pooled_connection(serving, engine)
        monkeypatch.setattr(engines, "IDLE_PING_SECONDS", 0.0)
        with serving.connect() as conn:  # replaced at checkout: the statement does not fail
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        serving.dispose()
