"""Fault injection: SIGKILL of a `gdx serve --workers 2` worker while clients call it.

The audit chain must stay intact (a worker killed inside its audit transaction leaves nothing
behind: the database rolls it back), every call a client got an answer to must have its audit
record (a response leaves only after its record's commit), and the server must keep serving.
A call cut off by the kill may or may not have a record: its record may have been committed
before the worker died.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from tests.services.conftest import LI, PURPOSE, ZHANG
from warehouse import audit

GDX = shutil.which("gdx") or str(Path(sys.executable).with_name("gdx"))
PERSON = "/api/v1/resources/population.person/records"
VERIFY = "/api/v1/verify/citizen"
CLIENTS = 6
STARTUP_SECONDS = 90  # two workers importing the app on a loaded 2-core machine
CALL_TIMEOUT = 40  # above the audit writer's 30 s commit limit: a slow answer is still one


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # path and query, as sent and as the audit record spells them (all ASCII, no %)
    expected: int
    status: int | None  # None: not answered (connection refused, reset or timed out)
    started: float


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`gdx serve --workers 2` in a process group of its own, and the workers it spawned."""

    def __init__(self, env: dict, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.process = subprocess.Popen(
            [GDX, "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.supervisor = psutil.Process(self.process.pid)
        self.seen: dict[int, psutil.Process] = {}

    def workers(self) -> list[psutil.Process]:
        """The uvicorn workers alive now (spawned children, not the resource tracker)."""
        found = []
        for child in self.supervisor.children():
            try:
                if "spawn_main" in " ".join(child.cmdline()):
                    found.append(child)
            except psutil.NoSuchProcess:
                continue
        self.seen.update((worker.pid, worker) for worker in found)
        return found

    def held(self, worker: psutil.Process) -> int:
        """Client connections `worker` holds open right now."""
        try:
            connections = worker.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            return 0
        return sum(c.status == "ESTABLISHED" and c.laddr.port == self.port for c in connections)

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def wait_for(self, condition, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(f"gdx serve ended: {self.process.stderr.read().decode()}")
            assert time.monotonic() < deadline, f"gave up waiting for {what}"
            time.sleep(0.05)

    def stop(self) -> None:
        """A graceful stop (SIGTERM), as an operator's would be."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)

    def kill(self) -> None:
        """Whatever is left of the server ends, whatever happened to the test."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        for worker in self.seen.values():  # a worker outliving its supervisor
            try:
                if worker.is_running():  # psutil checks the start time: never a reused pid
                    worker.kill()
            except psutil.NoSuchProcess:
                pass


class Caller:
    """Client threads firing data calls, each on a new connection (so that calls are spread
    over both workers), until stopped; every call is kept with what came back."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.key = key
        self.calls: list[Call] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def answered(self) -> int:
        with self._lock:
            return sum(call.status is not None for call in self.calls)

    def join(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(CALL_TIMEOUT + 10)
            assert not thread.is_alive(), "a client thread did not end"

    def _next(self) -> tuple[str, str, dict | None, int]:
        """The next call: method, path with query, JSON body, the status it should get. Reads
        with `as_of` carry a number of their own, so their path names one call only."""
        n = next(self._numbers)
        kind = n % 4
        stamp = f"{n // 1_000_000 % 60:02d}.{n % 1_000_000:06d}Z"
        if kind == 0:
            return "GET", f"{PERSON}/{LI}", None, 200
        if kind == 1:  # after the load: as it is now
            return "GET", f"{PERSON}/{ZHANG}?as_of=2999-01-01T00:00:{stamp}", None, 200
        if kind == 2:  # before the load: no record then
            return "GET", f"{PERSON}/{LI}?as_of=1999-01-01T00:00:{stamp}", None, 404
        return "POST", VERIFY, {"id_number": LI, "name": "李四"}, 200

    def _run(self) -> None:
        headers = {"X-API-Key": self.key, "X-Purpose": PURPOSE}
        limits = httpx.Limits(max_keepalive_connections=0)  # a new connection for every call
        with httpx.Client(
            base_url=self.url, headers=headers, timeout=CALL_TIMEOUT, limits=limits
        ) as client:
            while not self.stop.is_set():
                method, path, body, expected = self._next()
                started = time.monotonic()
                try:
                    response = client.request(method, path, json=body)
                except httpx.TransportError:
                    status: int | None = None
                except Exception as exc:  # anything else fails the test, not just this thread
                    self.errors.append(f"{method} {path}: {exc!r}")
                    return
                else:
                    status = response.status_code
                    path = response.request.url.raw_path.decode("ascii")  # as sent
                with self._lock:
                    self.calls.append(Call(method, path, expected, status, started))


# `gdx serve --workers 2` runs on SQLite too (its single writer takes the chain's turns)
@pytest.mark.parametrize("engine", ["postgresql", "sqlite"], indirect=True)
def test_a_worker_killed_during_calls_leaves_every_answered_call_audited(hub, tmp_path):
    env = dict(
        os.environ,
        GDX_DATABASE_URL=hub.engine.url.render_as_string(hide_password=False),
        GDX_HOME=str(tmp_path / "home"),
        GDX_IMPORTS_DIR=str(tmp_path / "imports"),  # the hub's catalog: its imported resource
        GDX_RATE_LIMIT="100000",  # the calls are to be served, not limited
        GDX_API_POOL="8",
        GDX_AUDIT_COMMIT_MS="5",  # calls wait on the writer: a kill finds some mid-commit
    )
    server = Server(env, _free_port())
    caller = Caller(server.url, hub.keys["approval"])
    try:
        server.wait_for(lambda: len(server.workers()) == 2, STARTUP_SECONDS, "2 workers")
        server.wait_for(server.healthy, STARTUP_SECONDS, "/healthz")
        caller.start()
        server.wait_for(lambda: caller.answered() >= 50, 60, "50 answered calls")
        # the worker holding the most client connections is killed, with calls in flight
        victim, held = None, 0
        deadline = time.monotonic() + 10
        while held < 2 and time.monotonic() < deadline:
            for worker in server.workers():
                if (busy := server.held(worker)) > held:
                    victim, held = worker, busy
            time.sleep(0.005)
        assert victim is not None, "no worker held a client connection"
        first = {worker.pid for worker in server.workers()}
        victim.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait(30)

        # uvicorn's supervisor starts a new worker in its place, and it serves
        def replaced() -> list[psutil.Process]:
            return [w for w in server.workers() if w.pid not in first]

        server.wait_for(lambda: len(replaced()) == 1, STARTUP_SECONDS, "a new worker")
        new = replaced()[0]
        server.wait_for(lambda: server.held(new) > 0, 60, "the new worker to serve a call")
        before = caller.answered()
        server.wait_for(lambda: caller.answered() >= before + 50, 60, "50 more answered calls")
        caller.join()
        server.stop()
    finally:
        caller.stop.set()
        server.kill()

    assert not caller.errors, caller.errors
    calls = caller.calls
    assert not [c.path for c in calls if "%" in c.path]  # the record keeps the path decoded
    answered = [c for c in calls if c.status is not None]
    wrong = Counter(
        (c.method, c.path.split("?")[0], c.status) for c in answered if c.status != c.expected
    )
    assert not wrong, f"calls answered with another status than expected: {wrong}"
    assert any(c.started > killed_at for c in answered), "nothing answered after the kill"

    verified = subprocess.run(
        [GDX, "audit", "verify"], env=env, capture_output=True, text=True, timeout=120
    )
    assert verified.returncode == 0, verified.stderr
    with hub.engine.connect() as conn:
        logged = audit.query(conn, limit=len(calls) + 1)
    assert f"audit log intact: {len(logged)} records" in verified.stdout
    assert len(logged) <= len(calls)  # no record of a call that was never made
    records = Counter((r["method"], r["path"], r["status"]) for r in logged)
    missing = Counter((c.method, c.path, c.status) for c in answered) - records
    assert not missing, f"answered calls without their audit record: {missing}"
