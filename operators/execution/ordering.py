"""Event-time reordering of the trading core's inputs.

The core must see market data and decisions in the order they became known, whatever order
the flow delivers them in (a candle batch can overtake the fused signals computed from its own
earlier candles). Items wait here, keyed by ``(known_ns, priority, key, arrival)``, until the
core knows nothing earlier can still arrive. ``priority`` orders items known at the same
instant (market data before the decisions it produced); ``key`` (an asset or record id) makes
that order independent of arrival; ``arrival`` breaks the remaining ties.

>>> buf = EventBuffer()
>>> buf.push(120, 1, "B", "candle B")
>>> buf.push(60, 3, "A", "signal A")
>>> buf.push(60, 1, "A", "candle A")
>>> [payload for _, _, payload in buf.pop_until(100)], len(buf)
(['candle A', 'signal A'], 1)
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any


class EventBuffer:
    """A min-heap of pending items by event time (picklable)."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str, int, Any]] = []
        self._arrivals = 0

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def oldest_ns(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def push(self, known_ns: int, priority: int, key: str, payload: Any) -> None:
        self._arrivals += 1
        heapq.heappush(self._heap, (known_ns, priority, key, self._arrivals, payload))

    def pop_until(self, limit_ns: float) -> Iterator[tuple[int, int, Any]]:
        """Pop, in order, every item known strictly before ``limit_ns``.

        Items pushed while iterating are included when they qualify.
        """
        heap = self._heap
        while heap and heap[0][0] < limit_ns:
            known, priority, _key, _arrival, payload = heapq.heappop(heap)
            yield known, priority, payload

    def pop_oldest(self) -> tuple[int, int, Any]:
        known, priority, _key, _arrival, payload = heapq.heappop(self._heap)
        return known, priority, payload
