"""`GET /healthz`: ok when the database answers, 503 with the reason when not, never a hang."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.app import create_app
from services.routes import health


def test_ok(engine, catalog):
    response = TestClient(create_app(engine, catalog)).get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_unreachable_database_is_503(catalog, tmp_path):
    broken = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'folder' / 'gdx.db'}")
    response = TestClient(create_app(broken, catalog)).get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert "unable to open database file" in body["database"]


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
        assert response.json()["database"] == "no answer within 0.2 s"
        assert client.get("/healthz").status_code == 503
        assert len(calls) == 1  # later calls wait for the hanging check, they start no other
    finally:
        release.set()
    for _ in range(50):
        if client.get("/healthz").status_code == 200:
            break
        time.sleep(0.05)
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
