"""`gdx serve` as a user starts it: bad values are one line and exit 1; a start says where."""

from __future__ import annotations

import os
import re
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

GDX = str(Path(sys.executable).parent / "gdx")


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, GDX_HOME=str(home), **extra)
    env.pop("GDX_DATABASE_URL", None)
    return env


def refused(home: Path, *args: str, **extra: str) -> str:
    """Run `gdx serve ARGS`, which must stop at once with one error line; returns that line."""
    result = subprocess.run(
        [GDX, "serve", *args],
        env=environment(home, **extra),
        capture_output=True,
        text=True,
        timeout=60,  # a server that started after all would hang here: the test fails
    )
    assert result.returncode == 1, result
    assert result.stdout == "", result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "settings", "message"),
    [
        (["--port", "99999"], {}, "--port: expected a port from 1 to 65535 (0: any free port)"),
        (["--port", "-1"], {}, "--port: expected a port from 1 to 65535"),
        ([], {"GDX_API_PORT": "http"}, "GDX_API_PORT: expected a port from 1 to 65535"),
        (["--workers", "0"], {}, "--workers: expected at least 1 worker process, got 0"),
        (["--host", "no-such-host.invalid"], {}, "--host no-such-host.invalid: unknown host"),
        (["--host", "192.0.2.1"], {}, "--host 192.0.2.1: not an address of this machine"),
        ([], {"GDX_API_HOST": "192.0.2.1"}, "GDX_API_HOST 192.0.2.1: not an address"),
        ([], {"GDX_REDIS_URL": "http://127.0.0.1:6379"}, "GDX_REDIS_URL http://127.0.0.1:6379: "),
    ],
    ids=["port-too-big", "port-negative", "bad-port-setting", "no-workers", "unknown-host",
         "foreign-address", "bad-host-setting", "bad-redis-url"],
)  # fmt: skip
def test_invalid_values_are_one_line_and_exit_1(tmp_path, args, settings, message):
    assert message in refused(tmp_path, *args, **settings)


def test_a_busy_port_is_one_line_and_exit_1(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = refused(tmp_path, "--port", str(port))
    assert line == f"error: port {port} on 127.0.0.1 is in use"


def first_line(process: subprocess.Popen, seconds: float) -> str:
    """The first line the process prints, waiting at most `seconds`."""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=seconds):
            raise AssertionError(f"nothing printed in {seconds}s")
    return process.stdout.readline()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_start_says_where_it_listens_and_answers_there(tmp_path, workers):
    subprocess.run(
        [GDX, "init", "--warehouse-only"], env=environment(tmp_path), timeout=120, check=True
    )
    process = subprocess.Popen(
        [GDX, "serve", "--port", "0", "--workers", str(workers)],  # 0: the system picks one
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = first_line(process, 60)
        count = "1 worker;" if workers == 1 else f"{workers} workers;"
        match = re.fullmatch(
            rf"serving the API on (http://127\.0\.0\.1:(\d+)) \(docs (\S+)\), {count} "
            r"Ctrl-C to stop\n",
            line,
        )
        assert match, line
        base, port, docs = match.groups()
        assert int(port) > 0 and docs == f"{base}/docs"
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"{base}/healthz", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the printed address never answered"
                time.sleep(0.2)
        assert response.json() == {"status": "ok", "database": "ok"}
        assert httpx.get(docs, timeout=5).status_code == 200
    finally:
        stop(process)


def test_redis_down_at_start_is_one_warning_line_then_it_serves(tmp_path):
    subprocess.run(
        [GDX, "init", "--warehouse-only"], env=environment(tmp_path), timeout=120, check=True
    )
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    url = f"redis://:secret@127.0.0.1:{closed}/0"
    process = subprocess.Popen(
        [GDX, "serve", "--port", "0", "--workers", "2"],
        env=environment(tmp_path, GDX_REDIS_URL=url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = first_line(process, 60)
        assert line.startswith("serving the API on http://127.0.0.1:"), line
        with selectors.DefaultSelector() as selector:
            selector.register(process.stderr, selectors.EVENT_READ)
            assert selector.select(timeout=10), "no warning"
        warning = process.stderr.readline()
        assert warning.startswith(
            f"warning: GDX_REDIS_URL redis://:***@127.0.0.1:{closed}/0 does not answer ("
        ), warning
        assert warning.endswith(
            "each worker limits consumers on its own (GDX_RATE_LIMIT per worker) until it does\n"
        )
        assert (tmp_path / "metrics").is_dir()  # two workers: their shared metrics folder
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Terminate a server, killing it if it does not stop within 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
