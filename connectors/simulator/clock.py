"""Simulated exchange clocks: step-driven for tests, scaled wall time for demos.

Both give the exchange's "now" in epoch milliseconds. The simulator publishes every recorded
event whose (shifted) time is at or before that instant, and its REST endpoints never reveal
anything later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class SimClock(Protocol):
    """The simulator's notion of the exchange's current time."""

    def now_ms(self) -> int:
        """Current exchange time, milliseconds since the Unix epoch (UTC)."""
        ...


class ManualClock:
    """A clock that only moves when told to: tests step it and nothing depends on timing.

    >>> clock = ManualClock(1_000)
    >>> clock.advance(250)
    1250
    >>> clock.set(2_000); clock.now_ms()
    2000
    """

    def __init__(self, start_ms: int) -> None:
        self._now = int(start_ms)
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def advance(self, ms: int) -> int:
        """Move forward by ``ms`` (>= 0) and return the new time."""
        if ms < 0:
            raise ValueError(f"ms must be >= 0 (the clock never goes back), got {ms}")
        with self._lock:
            self._now += int(ms)
            return self._now

    def set(self, now_ms: int) -> None:
        """Jump to ``now_ms``; it may not be earlier than the current time."""
        with self._lock:
            if now_ms < self._now:
                raise ValueError(f"now_ms {now_ms} is before the current time {self._now}")
            self._now = int(now_ms)


class ScaledClock:
    """Wall time × ``speed`` from ``start_ms``: ``speed=60`` replays an hour per minute.

    >>> ticks = iter([10.0, 12.5])
    >>> clock = ScaledClock(0, speed=2.0, monotonic=lambda: next(ticks))
    >>> clock.now_ms()
    5000
    """

    def __init__(
        self,
        start_ms: int,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self._start = int(start_ms)
        self._speed = float(speed)
        self._monotonic = monotonic
        self._origin = monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    def now_ms(self) -> int:
        return self._start + int((self._monotonic() - self._origin) * 1000 * self._speed)
