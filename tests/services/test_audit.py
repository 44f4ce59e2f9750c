"""The audit middleware and writer: a record committed before every /api/v1/ response, 503
when it cannot be, and concurrent calls committed together."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

from services import audit as service
from services import problems
from warehouse import audit
from warehouse.tables import audit_log

SECRET = "11010519491231002X"


def tiny_app(engine: sa.Engine, writer: service.AuditWriter | None = None) -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/api/v1/things/{key}")
    def thing(key: str, request: Request, purpose: str | None = None) -> dict:
        request.state.audit = {"consumer_id": 7, "consumer": "approval", "purpose": purpose}
        request.state.audit |= {"resource": "population.person", "keys": [key]}
        if key == "refused":
            request.state.audit["reason"] = "no approved access request"
            raise HTTPException(403, "not granted")
        if key == "missing":
            raise HTTPException(404, f"no record with key {key}")
        if key == "boom":
            raise RuntimeError("a bug")
        request.state.audit["fields"] = ["id_number", "name"]
        return {"id_number": SECRET, "name": "张三"}

    @app.get("/api/v1/anonymous")
    def anonymous() -> dict:
        return {"ok": True}

    @app.get("/healthz")
    def health() -> dict:
        return {"ok": True}

    service.install(app, engine, writer or service.AuditWriter(engine, commit_ms=1))
    return app


def logged(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        return audit.query(conn, limit=1000)


def test_every_call_is_recorded_with_what_the_route_set(engine):
    client = TestClient(tiny_app(engine))
    response = client.get(f"/api/v1/things/{SECRET}?purpose=S1")
    assert response.status_code == 200 and response.json()["id_number"] == SECRET
    [record] = logged(engine)
    assert record["seq"] == 1 and record["method"] == "GET" and record["status"] == 200
    assert record["path"] == f"/api/v1/things/{SECRET}?purpose=S1"
    assert record["consumer_id"] == 7 and record["consumer"] == "approval"
    assert record["purpose"] == "S1" and record["resource"] == "population.person"
    assert record["keys"] == [SECRET] and record["fields"] == ["id_number", "name"]
    assert record["reason"] is None
    with engine.connect() as conn:
        assert audit.verify(conn).ok


ROUTES = "(the API's routes: /openapi.json, /docs)"


def test_refusals_and_errors_are_recorded_with_their_reason(engine):
    client = TestClient(tiny_app(engine), raise_server_exceptions=False)
    assert client.get("/api/v1/things/refused").status_code == 403
    assert client.get("/api/v1/things/missing").status_code == 404
    assert client.get("/api/v1/anonymous").status_code == 200
    assert client.get("/api/v1/nowhere").status_code == 404
    response = client.get("/api/v1/things/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == problems.MEDIA_TYPE
    assert client.get("/healthz").status_code == 200  # not a data call: not audited
    found = [(r["path"], r["status"], r["reason"], r["consumer"]) for r in logged(engine)]
    assert found == [
        ("/api/v1/things/refused", 403, "no approved access request", "approval"),
        ("/api/v1/things/missing", 404, "no record with key missing", "approval"),
        ("/api/v1/anonymous", 200, None, None),
        ("/api/v1/nowhere", 404, f"no route GET /api/v1/nowhere {ROUTES}", None),
        ("/api/v1/things/boom", 500, "internal error", "approval"),
    ]


def test_the_record_is_committed_before_the_response_leaves(engine):
    app = tiny_app(engine)
    seen: list[int] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            with engine.connect() as conn:  # another connection: only committed rows
                seen.append(
                    conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar()
                )

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/things/1",
        "raw_path": b"/api/v1/things/1",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    assert seen == [1]


def test_a_failing_audit_log_gives_503_and_no_data(engine):
    def broken(conn, records):
        raise sa.exc.OperationalError("INSERT INTO audit_log", {}, Exception("disk full"))

    writer = service.AuditWriter(engine, commit_ms=0, append=broken)
    client = TestClient(tiny_app(engine, writer))
    response = client.get(f"/api/v1/things/{SECRET}")
    assert response.status_code == 503
    assert response.headers["content-type"] == problems.MEDIA_TYPE
    assert response.headers["retry-after"] == "1"
    assert "audit log" in response.json()["detail"]
    assert SECRET not in response.text and "张三" not in response.text
    assert client.get("/healthz").status_code == 200
    assert logged(engine) == []


def test_a_writer_that_never_commits_times_out_with_503(engine):
    started = threading.Event()
    release = threading.Event()

    def stuck(conn, records):
        started.set()
        release.wait(10)
        raise RuntimeError("gave up")

    writer = service.AuditWriter(engine, commit_ms=0, timeout=0.2, append=stuck)
    try:
        response = TestClient(tiny_app(engine, writer)).get(f"/api/v1/things/{SECRET}")
    finally:
        release.set()
    assert started.is_set() and response.status_code == 503 and SECRET not in response.text


def test_concurrent_calls_are_committed_together(engine):
    calls = 50
    batches: list[int] = []
    entered, release = threading.Event(), threading.Event()

    def counting(conn, records):
        batches.append(len(records))
        entered.set()
        release.wait(10)  # hold the first commit until every other call is queued
        audit.append(conn, records)

    writer = service.AuditWriter(engine, commit_ms=0, append=counting)
    app = tiny_app(engine, writer)

    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            tasks = [asyncio.create_task(client.get(f"/api/v1/things/{n}")) for n in range(calls)]
            while not (entered.is_set() and batches[0] + writer.queued == calls):
                await asyncio.sleep(0.005)
            release.set()
            return [response.status_code for response in await asyncio.gather(*tasks)]

    try:
        statuses = asyncio.run(main())
    finally:
        release.set()
    assert statuses == [200] * calls
    # the first commit holds whatever was queued when it began (one call, or all of them when
    # the writer's thread started late): the rest wait together for the second
    assert sum(batches) == calls and len(batches) == writer.commits <= 2
    found = logged(engine)
    assert sorted(r["keys"][0] for r in found) == sorted(str(n) for n in range(calls))
    with engine.connect() as conn:
        assert audit.verify(conn).records == calls
    writer.close()
    assert not writer.running


def test_writer_groups_direct_writes_and_stops_with_the_app(engine):
    writer = service.AuditWriter(engine, commit_ms=200, batch_size=10)

    async def main() -> None:
        records = [audit.Record("GET", f"/api/v1/x/{n}", 200) for n in range(25)]
        await asyncio.gather(*(writer.write(record) for record in records))

    asyncio.run(main())
    assert writer.records == 25 and 3 <= writer.commits < 25  # at most 10 in a commit
    with TestClient(tiny_app(engine, writer)) as client:  # with the lifespan
        assert client.get("/api/v1/things/1").status_code == 200
        assert writer.running
    assert not writer.running  # stopped at shutdown
    assert TestClient(tiny_app(engine, writer)).get("/api/v1/things/2").status_code == 200
    assert writer.running  # started again on the next call
    writer.close()
    with engine.connect() as conn:
        assert audit.verify(conn).records == 27


def test_idle_writer_thread_ends_and_restarts(engine):
    writer = service.AuditWriter(engine, commit_ms=0, idle_seconds=0.05)
    writer.submit(audit.Record("GET", "/api/v1/x", 200)).result(10)
    for _ in range(200):
        if not writer.running:
            break
        threading.Event().wait(0.01)
    assert not writer.running
    writer.submit(audit.Record("GET", "/api/v1/y", 200)).result(10)
    assert writer.records == 2
    writer.close()


def test_commit_window_setting_allows_zero(monkeypatch):
    monkeypatch.setenv("GDX_AUDIT_COMMIT_MS", "0")
    assert service.commit_ms_setting() == 0
    monkeypatch.setenv("GDX_AUDIT_COMMIT_MS", "soon")
    with pytest.raises(ValueError, match="GDX_AUDIT_COMMIT_MS"):
        service.commit_ms_setting()
