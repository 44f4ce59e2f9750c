"""A rate limit per consumer: a token bucket for each consumer id.

Each consumer may make `rate` calls per second on average; its bucket holds `burst` tokens
(twice the rate by default), so a short burst passes. A refused call takes no token and gets
the whole seconds to wait until the next token (for `Retry-After`).

Without GDX_REDIS_URL the buckets live in the process: `gdx serve --workers N` runs N processes
with a bucket each, so a consumer whose calls the server spreads over every worker gets up to N
times the limit. With GDX_REDIS_URL the buckets live in Redis (`RedisRateLimiter`, keys under
GDX_REDIS_PREFIX): every worker of every host takes from the same bucket, in one Lua script run
atomically by Redis on Redis's clock, so concurrent workers never let more through than one would.
When Redis does not answer, each worker limits on its own buckets (the per-worker limit) until it
answers again: fail-soft, neither open nor closed; the warning is logged once per outage.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from runtime import settings

MAX_BUCKETS = 10_000
RETRY_SECONDS = 1.0  # after a failure, calls use the worker's buckets this long before a retry
REDIS_TIMEOUT_SECONDS = 0.5
log = logging.getLogger("gdx.ratelimit")


class RateLimiter:
    """Thread-safe token buckets by consumer id, `rate` tokens a second up to `burst`."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate: expected a positive number of calls per second, got {rate}")
        self.rate = rate
        self.burst = max(1.0, float(burst if burst is not None else 2 * rate))
        self.clock = clock
        self.max_buckets = max_buckets
        # consumer id -> (tokens, time of the last update), least recently used first
        self._buckets: OrderedDict[int, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, consumer_id: int, now: float | None = None) -> int | None:
        """Take a token for a call: None when allowed, else the whole seconds to wait (>= 1)."""
        if now is None:
            now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(consumer_id, (self.burst, now))
            tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
            if tokens >= 1:
                self._buckets[consumer_id] = (tokens - 1, now)
                self._evict(now)
                return None
            self._buckets[consumer_id] = (tokens, now)
            self._evict(now)
        return max(1, math.ceil((1 - tokens) / self.rate))

    def _evict(self, now: float) -> None:
        # a bucket idle long enough to be full again is the same as no bucket: drop it; past
        # max_buckets drop the least recently used anyway (that consumer starts afresh)
        refill = self.burst / self.rate
        while self._buckets:
            consumer_id, (_, last) = next(iter(self._buckets.items()))
            if now - last < refill and len(self._buckets) <= self.max_buckets:
                break
            del self._buckets[consumer_id]

    def __len__(self) -> int:
        """Buckets held (consumers seen recently)."""
        return len(self._buckets)


# KEYS[1]: the bucket; ARGV: rate, burst, now ('' : Redis's clock), idle ms after which the bucket
# is full again (its time to live). Returns -1 when the call may go, else the seconds to wait.
TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now
if ARGV[3] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[3])
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = -1
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.max(1, math.ceil((1 - tokens) / rate))
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'at', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return wait
"""


def display_url(url: str) -> str:
    """A Redis URL fit for a log line: its password hidden."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def redis_client(url: str):
    """A Redis client of `url` (no connection yet); a malformed URL is a ValueError naming it."""
    import redis

    try:
        return redis.Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
    except ValueError as exc:
        raise ValueError(f"GDX_REDIS_URL {display_url(url)}: {exc}") from None


class RedisRateLimiter:
    """The same token buckets as RateLimiter, shared in Redis by every process that uses the
    same Redis and prefix; the worker's own RateLimiter while Redis does not answer."""

    def __init__(
        self,
        rate: float,
        burst: float | None,
        client,
        prefix: str = "gdx:",
        clock: Callable[[], float] = time.monotonic,
        name: str = "Redis",
    ) -> None:
        self.fallback = RateLimiter(rate, burst, clock=clock)
        self.rate = self.fallback.rate
        self.burst = self.fallback.burst
        self.client = client
        self.prefix = prefix
        self.clock = clock
        self.name = name
        self._script = client.register_script(TAKE)
        # idle this long, a bucket is full again: the same as no bucket, so Redis drops it
        self._ttl_ms = max(1, math.ceil(self.burst / self.rate * 1000))
        self._down_until = 0.0  # clock time before which Redis is not tried again
        self._down = False
        self._lock = threading.Lock()

    def key(self, consumer_id: int) -> str:
        return f"{self.prefix}ratelimit:{consumer_id}"

    def take(self, consumer_id: int, now: float | None = None) -> int | None:
        """Take a token for a call: None when allowed, else the whole seconds to wait (>= 1).
        `now` (seconds) stands in for Redis's clock, for tests."""
        if self._down and self.clock() < self._down_until:
            return self.fallback.take(consumer_id, now)
        args = [repr(float(self.rate)), repr(float(self.burst)), "" if now is None else repr(now)]
        try:
            wait = int(self._script(keys=[self.key(consumer_id)], args=[*args, self._ttl_ms]))
        except Exception as exc:  # redis.RedisError, OSError: Redis is down or unreachable
            self._failed(exc)
            return self.fallback.take(consumer_id, now)
        if self._down:
            with self._lock:
                if self._down:
                    self._down = False
                    log.warning("rate limit: %s answers again; the limit is shared", self.name)
        return None if wait < 0 else wait

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            self._down_until = self.clock() + RETRY_SECONDS
            if not self._down:
                self._down = True
                log.warning(
                    "rate limit: %s does not answer (%s); this worker limits consumers on its "
                    "own until it does",
                    self.name,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                )


def from_settings() -> RateLimiter | RedisRateLimiter:
    """The limiter of GDX_RATE_LIMIT calls per second per consumer, bursts of twice as many:
    in Redis when GDX_REDIS_URL is set (keys under GDX_REDIS_PREFIX), else in the process."""
    rate = settings.positive("GDX_RATE_LIMIT")
    url = settings.get("GDX_REDIS_URL")
    if not url:
        return RateLimiter(rate, 2 * rate)
    client = redis_client(url)
    prefix = settings.get("GDX_REDIS_PREFIX")
    return RedisRateLimiter(rate, 2 * rate, client, prefix, name=f"Redis {display_url(url)}")


def check_redis() -> str | None:
    """At start-up: None when GDX_REDIS_URL is unset or Redis answers, else the reason it does
    not (a malformed URL is a ValueError)."""
    url = settings.get("GDX_REDIS_URL")
    if not url:
        return None
    client = redis_client(url)
    try:
        client.ping()
    except Exception as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    finally:
        client.close()
    return None
