"""A rate limit per consumer: a token bucket for each consumer id.

Each consumer may make `rate` calls per second on average; its bucket holds `burst` tokens
(twice the rate by default), so a short burst passes. A refused call takes no token and gets
the whole seconds to wait until the next token (for `Retry-After`).

The buckets live in the process. `gdx serve --workers N` runs N processes with a bucket each, so
a consumer whose calls the server spreads over every worker gets up to N times the limit. To
hold the exact limit with several workers, set GDX_RATE_LIMIT to the limit divided by N, pin each
consumer to one worker at the reverse proxy (hash on X-API-Key), or limit at the proxy itself.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from runtime import settings

MAX_BUCKETS = 10_000


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


def from_settings() -> RateLimiter:
    """The limiter of GDX_RATE_LIMIT calls per second per consumer, bursts of twice as many."""
    rate = settings.positive("GDX_RATE_LIMIT")
    return RateLimiter(rate, 2 * rate)
