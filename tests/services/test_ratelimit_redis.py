"""The rate limit shared in Redis (GDX_REDIS_URL): the same token buckets as the in-process
limiter, atomic across limiters (workers), isolated by prefix, and the worker's own buckets while
Redis does not answer. Needs the Redis of these machines (127.0.0.1:6379)."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import threading
import time
import uuid

import pytest
import redis

from services import ratelimit
from services.ratelimit import RateLimiter, RedisRateLimiter

URL = "redis://127.0.0.1:6379/0"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def client():
    client = redis.Redis.from_url(URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {URL}: {exc}")
    yield client
    client.close()


@pytest.fixture
def prefix(client):
    prefix = f"gdx-test-{uuid.uuid4().hex}:"
    yield prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def shared(client, prefix, rate, burst, **kwargs) -> RedisRateLimiter:
    return RedisRateLimiter(rate, burst, client, prefix, **kwargs)


@pytest.mark.parametrize("kind", ["process", "redis"])
def test_the_same_buckets_as_in_the_process(client, prefix, kind):
    limiter = RateLimiter(1, 2) if kind == "process" else shared(client, prefix, 1, 2)
    assert limiter.take(7, now=100.0) is None
    assert limiter.take(7, now=100.0) is None  # a burst of twice the rate
    assert limiter.take(7, now=100.0) == 1
    assert limiter.take(7, now=100.5) == 1  # half a token: wait rounds up to a whole second
    assert limiter.take(7, now=101.0) is None
    assert limiter.take(7, now=101.0) == 1
    assert limiter.take(7, now=110.0) is None and limiter.take(7, now=110.0) is None
    assert limiter.take(7, now=110.0) == 1  # refilled to the burst, never beyond
    slow = RateLimiter(0.1, 1) if kind == "process" else shared(client, prefix, 0.1, 1)
    assert slow.take(1, now=0.0) is None
    assert slow.take(1, now=0.0) == 10
    assert slow.take(1, now=7.5) == 3
    assert slow.take(1, now=10.0) is None


def test_the_window_on_redis_clock_and_idle_buckets_expire(client, prefix):
    limiter = shared(client, prefix, 20, 2)  # a token every 50 ms, a full bucket in 100 ms
    assert limiter.take(1) is None and limiter.take(1) is None
    assert limiter.take(1) == 1
    time.sleep(0.06)
    assert limiter.take(1) is None  # refilled by Redis's clock
    assert 0 < client.pttl(limiter.key(1)) <= 100
    time.sleep(0.25)
    assert client.exists(limiter.key(1)) == 0  # idle long enough to be full: gone


def test_workers_share_one_bucket_and_never_over_admit(client, prefix):
    workers = [shared(client, prefix, 1, 100) for _ in range(2)]  # two processes' limiters
    allowed = []

    def call(limiter: RedisRateLimiter) -> None:
        for _ in range(50):
            if limiter.take(1, now=0.0) is None:
                allowed.append(1)

    threads = [threading.Thread(target=call, args=(workers[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 100  # 400 calls over two workers: the burst once, not twice


def test_prefixes_isolate_hubs(client, prefix):
    one = shared(client, prefix + "one:", 1, 2)
    other = shared(client, prefix + "other:", 1, 2)
    assert one.take(1, now=0.0) is None and one.take(1, now=0.0) is None
    assert one.take(1, now=0.0) == 1
    assert other.take(1, now=0.0) is None  # the same consumer id of another hub
    assert shared(client, prefix + "one:", 1, 2).take(1, now=0.0) == 1  # same prefix: shared


def test_redis_down_falls_back_to_the_workers_buckets_logging_once(caplog, prefix):
    down = redis.Redis(host="127.0.0.1", port=_free_port(), socket_connect_timeout=0.5)
    limiter = RedisRateLimiter(1, 2, down, prefix, name="Redis test")
    with caplog.at_level(logging.WARNING, logger="gdx.ratelimit"):
        results = [limiter.take(1, now=0.0) for _ in range(5)]
        assert limiter.take(2, now=0.0) is None  # another consumer: its own bucket
    assert results == [None, None, 1, 1, 1]  # still limited, per worker
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("rate limit: Redis test does not answer (")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server to start")
def test_redis_back_shares_again(caplog, tmp_path, monkeypatch):
    monkeypatch.setattr(ratelimit, "RETRY_SECONDS", 0.0)
    port = _free_port()
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    limiter = RedisRateLimiter(1, 2, client, "gdx:", name="Redis test")
    with caplog.at_level(logging.WARNING, logger="gdx.ratelimit"):
        assert limiter.take(1, now=0.0) is None  # down: the worker's bucket
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    assert time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.05)
            assert limiter.take(1, now=0.0) is None  # Redis's bucket: full again
            assert limiter.take(1, now=0.0) is None
            assert limiter.take(1, now=0.0) == 1
            assert client.exists("gdx:ratelimit:1") == 1
        finally:
            server.terminate()
            server.wait(10)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "does not answer" in lines[0]
    assert lines[1] == "rate limit: Redis test answers again; the limit is shared"


def test_from_settings(monkeypatch):
    monkeypatch.setenv("GDX_RATE_LIMIT", "5")
    monkeypatch.delenv("GDX_REDIS_URL", raising=False)
    assert type(ratelimit.from_settings()) is RateLimiter
    monkeypatch.setenv("GDX_REDIS_URL", "redis://:secret@127.0.0.1:6379/0")
    monkeypatch.setenv("GDX_REDIS_PREFIX", "hub2:")
    limiter = ratelimit.from_settings()
    assert isinstance(limiter, RedisRateLimiter)
    assert (limiter.rate, limiter.burst, limiter.key(3)) == (5, 10, "hub2:ratelimit:3")
    assert limiter.name == "Redis redis://:***@127.0.0.1:6379/0"
    monkeypatch.setenv("GDX_REDIS_URL", "http://127.0.0.1:6379")
    with pytest.raises(ValueError, match=r"^GDX_REDIS_URL http://127\.0\.0\.1:6379: "):
        ratelimit.from_settings()
