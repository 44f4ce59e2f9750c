"""A client that holds its request body back is cut off: `gdx serve` over a raw socket."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

GDX = shutil.which("gdx") or str(Path(sys.executable).with_name("gdx"))
TIMEOUT = 1  # GDX_BODY_TIMEOUT_SECONDS of the server under test
VERIFY = "/api/v1/verify/citizen"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`gdx serve` on a fresh embedded warehouse, with a body timeout of TIMEOUT seconds."""
    home = tmp_path_factory.mktemp("home")
    env = dict(os.environ, GDX_HOME=str(home), GDX_BODY_TIMEOUT_SECONDS=str(TIMEOUT))
    env.pop("GDX_DATABASE_URL", None)
    init = subprocess.run(
        [GDX, "init", "--warehouse-only"], env=env, capture_output=True, text=True, timeout=120
    )
    assert init.returncode == 0, init.stderr
    port = _free_port()
    process = subprocess.Popen(
        [GDX, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "gdx serve did not answer /healthz"
            time.sleep(0.2)
        yield port, home
    finally:
        process.terminate()
        process.wait(15)


def _request(length: int, body: bytes) -> bytes:
    head = (
        f"POST {VERIFY} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    return head.encode() + body


def _until_closed(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (socket.timeout if it never
    does within the connection's timeout)."""
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    return received


def test_a_body_held_back_is_answered_408_and_the_connection_closed(server):
    port, home = server
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT + 10) as slow:
        slow.sendall(_request(100, b'{"'))  # 2 of the 100 bytes promised
        sent = time.monotonic()
        # meanwhile the worker serves others: the wait holds no thread
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        answer = _until_closed(slow)
        waited = time.monotonic() - sent
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert b"content-type: application/problem+json" in head.lower()
    assert b"connection: close" in head.lower()
    assert b"did not arrive in full within 1 s" in body
    assert waited >= TIMEOUT * 0.9  # not cut off before its time
    engine = sa.create_engine(f"sqlite:///{home / 'gdx.db'}")
    with engine.connect() as conn:  # audited like every call under /api/v1/
        statuses = conn.execute(
            sa.text("SELECT status FROM audit_log WHERE path = :p"), {"p": VERIFY}
        )
        assert 408 in {row.status for row in statuses}
    engine.dispose()


def test_a_body_that_arrives_in_time_is_read(server):
    port, _ = server
    body = b'{"id_number": "11010519491231002X", "name": "x"}'
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT + 10) as conn:
        conn.sendall(_request(len(body), body[:5]))
        time.sleep(TIMEOUT / 4)
        conn.sendall(body[5:])
        answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 401"), answer  # judged: no API key


def test_a_body_too_large_is_413_unread(server):
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT + 10) as conn:
        conn.sendall(_request(2 << 20, b"{"))
        answer = _until_closed(conn)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b"larger than 1048576 bytes" in answer
