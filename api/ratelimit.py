"""Per-key rate limiting: one token bucket per API key, on an injectable clock.

A bucket holds up to ``capacity`` tokens and gains ``rate`` tokens per second; a request takes
one. An empty bucket refuses and says how long until the next token (``Retry-After``).

>>> now = [0.0]
>>> limiter = RateLimiter(capacity=2, rate=0.5, clock=lambda: now[0])
>>> [limiter.acquire("k1").allowed for _ in range(3)]
[True, True, False]
>>> limiter.acquire("k1").retry_after
2.0
>>> limiter.acquire("k2").allowed  # every key has its own bucket
True
>>> now[0] = 2.0
>>> limiter.acquire("k1").allowed
True
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a request may go ahead; if not, seconds until it may (``retry_after``)."""

    allowed: bool
    remaining: float
    retry_after: float = 0.0

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` in whole seconds, rounded up (at least 1).

        >>> Verdict(False, 0.0, 0.2).retry_after_header
        '1'
        """
        return str(max(1, math.ceil(self.retry_after)))


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``rate`` per second (pure, no clock).

    >>> bucket = TokenBucket(capacity=1, rate=1.0, now=10.0)
    >>> bucket.take(10.0).allowed, bucket.take(10.25).retry_after
    (True, 0.75)
    """

    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1 token, got {capacity}")
        if rate <= 0:
            raise ValueError(f"rate must be > 0 tokens per second, got {rate}")
        self.capacity = float(capacity)
        self.rate = float(rate)
        self.tokens = float(capacity)
        self.updated = now

    def take(self, now: float) -> Verdict:
        """Refill for the time since the last call, then take one token if there is one."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return Verdict(True, self.tokens)
        return Verdict(False, self.tokens, (1.0 - self.tokens) / self.rate)


class RateLimiter:
    """Token buckets by key, thread-safe; ``clock`` returns seconds (monotonic by default)."""

    def __init__(
        self,
        capacity: float,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        TokenBucket(capacity, rate, 0.0)  # validate once, with the same messages
        self.capacity = capacity
        self.rate = rate
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> Verdict:
        """Take one token from ``key``'s bucket (created full on first use)."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(self.capacity, self.rate, now)
            return bucket.take(now)


class SharedRateLimiter:
    """The same per-key limit kept in shared storage, so several API replicas share it.

    Built on the ``limits`` library: ``storage`` is one of its URIs (``redis://host:6379/0``,
    ``memory://`` for one process). A key may make ``capacity`` requests per
    ``capacity / rate`` seconds in a moving window, the shared-storage form of the token
    bucket above (the same burst and the same sustained rate).

    >>> limiter = SharedRateLimiter("memory://", capacity=2, rate=1.0)
    >>> [limiter.acquire("k1").allowed for _ in range(3)]
    [True, True, False]
    >>> 0 < limiter.acquire("k1").retry_after <= 2
    True
    """

    def __init__(
        self, storage: str, capacity: float, rate: float, namespace: str = "quorum-api"
    ) -> None:
        from limits import RateLimitItemPerSecond
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        TokenBucket(capacity, rate, 0.0)  # validate once, with the same messages
        self.capacity = capacity
        self.rate = rate
        self._namespace = namespace
        self._item = RateLimitItemPerSecond(int(capacity), max(1, math.ceil(capacity / rate)))
        try:
            backend = storage_from_string(storage)
            reachable = backend.check()
        except Exception as exc:  # limits raises several types for a bad or unreachable URI
            raise ValueError(f"rate-limit storage {storage!r} cannot be used: {exc}") from None
        if not reachable:
            raise ValueError(f"rate-limit storage {storage!r} does not answer")
        self._limiter = MovingWindowRateLimiter(backend)

    def acquire(self, key: str) -> Verdict:
        if self._limiter.hit(self._item, self._namespace, key):
            remaining = self._limiter.get_window_stats(self._item, self._namespace, key).remaining
            return Verdict(True, float(remaining))
        stats = self._limiter.get_window_stats(self._item, self._namespace, key)
        return Verdict(False, 0.0, max(0.0, stats.reset_time - time.time()))
