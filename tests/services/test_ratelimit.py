"""The rate limit per consumer: token buckets with a fake clock, and 429 through the API."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from services.app import create_app
from services.ratelimit import RateLimiter
from warehouse import audit, consumers


def test_burst_then_refused_then_refilled():
    limiter = RateLimiter(1, 2)
    assert limiter.take(7, now=100.0) is None
    assert limiter.take(7, now=100.0) is None  # a burst of twice the rate
    assert limiter.take(7, now=100.0) == 1  # the next token in 1 s
    assert limiter.take(7, now=100.5) == 1  # half a token: wait rounds up to a whole second
    assert limiter.take(7, now=101.0) is None
    assert limiter.take(7, now=101.0) == 1
    assert limiter.take(7, now=110.0) is None and limiter.take(7, now=110.0) is None
    assert limiter.take(7, now=110.0) == 1  # refilled to the burst, never beyond


def test_retry_after_for_a_slow_rate():
    limiter = RateLimiter(0.1, 1)  # one call per 10 s
    assert limiter.take(1, now=0.0) is None
    assert limiter.take(1, now=0.0) == 10
    assert limiter.take(1, now=7.5) == 3
    assert limiter.take(1, now=10.0) is None


def test_consumers_are_independent():
    limiter = RateLimiter(5)
    assert limiter.burst == 10
    assert all(limiter.take(1, now=0.0) is None for _ in range(10))
    assert limiter.take(1, now=0.0) == 1
    assert all(limiter.take(2, now=0.0) is None for _ in range(10))
    assert limiter.take(2, now=0.0) == 1


def test_injected_clock():
    now = [50.0]
    limiter = RateLimiter(2, 2, clock=lambda: now[0])
    assert limiter.take(1) is None and limiter.take(1) is None
    assert limiter.take(1) == 1
    now[0] += 0.5
    assert limiter.take(1) is None


def test_idle_buckets_are_evicted():
    limiter = RateLimiter(1, 2, max_buckets=100)
    for consumer in range(50):
        limiter.take(consumer, now=0.0)
    assert len(limiter) == 50
    limiter.take(999, now=2.0)  # every other bucket is full again by now: the same as none
    assert len(limiter) == 1
    for consumer in range(500):
        limiter.take(consumer, now=3.0)
    assert len(limiter) == 100  # bounded even when all are busy


def test_threads_never_take_more_than_the_burst():
    limiter = RateLimiter(1, 100)
    allowed = []

    def call() -> None:
        for _ in range(50):
            if limiter.take(1, now=0.0) is None:
                allowed.append(1)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 100


def test_rate_must_be_positive():
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_third_rapid_call_is_429(engine, catalog, monkeypatch):
    monkeypatch.setenv("GDX_RATE_LIMIT", "1")
    with engine.begin() as conn:
        _, key = consumers.add(conn, "approval", "government_services")
        _, other = consumers.add(conn, "other", "government_services")
    client = TestClient(create_app(engine, catalog))
    url = "/api/v1/resources/population.person/records/11010519491231002X"
    headers = {"X-API-Key": key, "X-Purpose": "000105001000"}
    assert client.get(url, headers=headers).status_code != 429
    assert client.get(url, headers=headers).status_code != 429
    response = client.get(url, headers=headers)
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["status"] == 429 and body["title"] == "Too Many Requests"
    assert body["detail"] == "rate limit of 1 calls per second exceeded for consumer approval"
    assert client.get(url, headers={**headers, "X-API-Key": other}).status_code != 429
    assert 'gdx_denials_total{reason="rate_limited"} 1.0' in client.get("/metrics").text
    assert client.get("/healthz").status_code == 200  # not rate limited


def test_bad_rate_setting_fails_at_start(engine, catalog, monkeypatch):
    monkeypatch.setenv("GDX_RATE_LIMIT", "fast")
    with pytest.raises(ValueError, match="GDX_RATE_LIMIT"):
        create_app(engine, catalog)


def test_malformed_calls_count_against_the_rate_too(engine, catalog, monkeypatch):
    # FastAPI refuses a malformed call before the route authenticates it: the refusal still
    # takes one of the consumer's calls, and past the rate it is 429, audited as such
    monkeypatch.setenv("GDX_RATE_LIMIT", "1")
    with engine.begin() as conn:
        _, key = consumers.add(conn, "approval", "government_services")
    client = TestClient(create_app(engine, catalog))
    url = "/api/v1/resources/population.person/records/" + "1" * 80  # over 64 characters
    headers = {"X-API-Key": key, "X-Purpose": "000105001000"}
    assert [client.get(url, headers=headers).status_code for _ in range(3)] == [422, 422, 429]
    assert 'gdx_denials_total{reason="rate_limited"} 1.0' in client.get("/metrics").text
    with engine.connect() as conn:
        statuses = [row.status for row in audit.rows(conn)]
        consumers_named = {row.consumer for row in audit.rows(conn)}
    assert statuses == [422, 422, 429] and consumers_named == {"approval"}
