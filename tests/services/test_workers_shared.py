"""`gdx serve --workers 2` with GDX_REDIS_URL: one consumer spread over both workers is limited
once (the burst plus the refill over the run, not twice that), and `/metrics` from either worker
shows one set of counters summing every call (prometheus_client's multiprocess mode)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.services.conftest import LI, PURPOSE
from tests.services.test_worker_kill import GDX

ROUTE = "/api/v1/resources/population.person/records/{id_number}"
PERSON = ROUTE.replace("{id_number}", LI)
RATE = 10  # calls a second; a burst of 20
CALLS = 120
THREADS = 12


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def requests_by_route(text: str) -> Counter:
    counts: Counter = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gdx_http_requests_total":
                counts[(sample.labels["route"], sample.labels["status"])] += sample.value
    return counts


def per_worker_calls(folder: Path, route: str) -> dict[int, float]:
    """Calls of `route` each worker counted, read from its own file of the metrics folder."""
    calls = {}
    for path in folder.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        calls[pid] = sum(
            value
            for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path))
            if (k := json.loads(key))[1] == "gdx_http_requests_total" and k[2]["route"] == route
        )
    return calls


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_two_workers_share_the_limit_and_the_counters(hub, tmp_path):
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0").ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis on 127.0.0.1:6379: {exc}")
    prefix = f"gdx-test-{uuid.uuid4().hex}:"
    port = _free_port()
    home = tmp_path / "home"
    stale = home / "metrics" / str(port) / "counter_1.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left over")  # a previous run's: emptied at start
    env = dict(
        os.environ,
        GDX_DATABASE_URL=hub.engine.url.render_as_string(hide_password=False),
        GDX_HOME=str(home),
        GDX_IMPORTS_DIR=str(tmp_path / "imports"),
        GDX_RATE_LIMIT=str(RATE),
        GDX_REDIS_URL="redis://127.0.0.1:6379/0",
        GDX_REDIS_PREFIX=prefix,
        GDX_API_POOL="8",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [GDX, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    statuses: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.stderr.read().decode()
            try:
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server never answered"
            time.sleep(0.2)
        assert not stale.exists()

        headers = {"X-API-Key": hub.keys["approval"], "X-Purpose": PURPOSE}
        numbers = iter(range(CALLS))
        lock = threading.Lock()
        go = threading.Barrier(THREADS)

        def run() -> None:
            limits = httpx.Limits(max_keepalive_connections=0)  # a connection a call
            with httpx.Client(base_url=url, headers=headers, timeout=30, limits=limits) as c:
                go.wait()
                while True:
                    with lock:
                        if next(numbers, None) is None:
                            return
                    status = c.get(PERSON).status_code
                    with lock:
                        statuses.append(status)

        threads = [threading.Thread(target=run) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        for thread in threads:
            thread.join(60)
        seconds = time.monotonic() - started
        assert len(statuses) == CALLS

        # scrapes on new connections: whichever worker answers, the same sums
        scrapes = [httpx.get(f"{url}/metrics", timeout=10).text for _ in range(12)]
        folder = home / "metrics" / str(port)
        data_calls = per_worker_calls(folder, ROUTE)
        scrape_calls = per_worker_calls(folder, "/metrics")
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(30)
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)

    counts = Counter(statuses)
    assert set(counts) <= {200, 429}, counts
    ok = counts[200]
    # one bucket: the burst, plus what refilled while the calls ran; two would let twice through
    print(f"{CALLS} calls in {seconds:.2f}s over 2 workers {data_calls}: {ok} served, "
          f"{counts[429]} limited (limit: {2 * RATE} + {RATE}/s)")  # fmt: skip
    assert 2 * RATE <= ok <= 2 * RATE + int(RATE * seconds) + 1, (ok, seconds)
    busy = [pid for pid, calls in data_calls.items() if calls > 0]
    assert len(busy) == 2, f"the calls did not reach both workers: {data_calls}"
    assert sum(data_calls.values()) == CALLS
    assert len([pid for pid, calls in scrape_calls.items() if calls > 0]) == 2, scrape_calls

    for text in scrapes:
        assert "pid=" not in text  # one set of counters, not one per worker
        requests = requests_by_route(text)
        assert requests[(ROUTE, "200")] == ok
        assert requests[(ROUTE, "429")] == counts[429]
        denials = {
            s.labels["reason"]: s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "gdx_denials_total"
        }
        assert denials["rate_limited"] == counts[429]
        assert set(denials) >= {"unauthenticated", "not_found"}  # every reason, from 0
