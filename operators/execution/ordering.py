"""Event-time reordering of the trading core's inputs.

The core must see market data and decisions in the order they became known, whatever order
the flow delivers them in (a candle batch can overtake the fused signals computed from its own
earlier candles). Items wait here, keyed by ``(known_ns, priority, key, arrival)``, until the
core knows nothing earlier can still arrive. ``priority`` orders items known at the same
instant (market data before the decisions it produced); ``key`` (an asset or record id) makes
that order independent of arrival; ``arrival`` breaks the remaining ties.

A batch of bars already in time order waits as one *run* (:meth:`EventBuffer.push_run`): it
holds a single heap entry for its next bar and hands out its bars one after another for as
long as nothing else in the heap comes first — the order of pushing them one by one, without a
heap operation per bar.

>>> buf = EventBuffer()
>>> buf.push(120, 1, "B", "candle B")
>>> buf.push(60, 3, "A", "signal A")
>>> buf.push(60, 1, "A", "candle A")
>>> [payload for _, _, payload in buf.pop_until(100)], len(buf)
(['candle A', 'signal A'], 1)
>>> buf.push_run([60, 120, 180], 1, "A", ["A 1", "A 2", "A 3"])
>>> buf.push(120, 3, "A", "signal A")
>>> [payload for _, _, payload in buf.pop_until(float("inf"))]
['A 1', 'A 2', 'candle B', 'signal A', 'A 3']
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import Any


class _Run:
    """Items of one priority and key, in non-decreasing ``known`` order, with consecutive
    arrival numbers from ``first_arrival``; ``next`` is the first not yet handed out."""

    __slots__ = ("first_arrival", "known", "next", "payloads")

    def __init__(self, known: Sequence[int], first_arrival: int, payloads: Sequence[Any]) -> None:
        self.known = known
        self.first_arrival = first_arrival
        self.payloads = payloads
        self.next = 0


class EventBuffer:
    """A min-heap of pending items by event time (picklable)."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str, int, Any]] = []
        self._arrivals = 0
        self._pending = 0

    def __len__(self) -> int:
        return self._pending

    @property
    def oldest_ns(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def push(self, known_ns: int, priority: int, key: str, payload: Any) -> None:
        self._arrivals += 1
        self._pending += 1
        heapq.heappush(self._heap, (known_ns, priority, key, self._arrivals, payload))

    def push_run(
        self, known: Sequence[int], priority: int, key: str, payloads: Sequence[Any]
    ) -> None:
        """Push ``payloads`` (known at ``known``, in that order) as if one by one.

        The buffer keeps both sequences as they are (no copy): compact columns stay compact
        (:mod:`~operators.execution.buffered_columns`); do not change them afterwards.
        """
        if not payloads:
            return
        ordered = all(a <= b for a, b in pairwise(known))
        if not ordered:  # an unsorted batch: each item finds its own place
            for known_ns, payload in zip(known, payloads, strict=True):
                self.push(known_ns, priority, key, payload)
            return
        run = _Run(known, self._arrivals + 1, payloads)
        self._arrivals += len(run.payloads)
        self._pending += len(run.payloads)
        heapq.heappush(self._heap, (run.known[0], priority, key, run.first_arrival, run))

    def pop_until(self, limit_ns: float) -> Iterator[tuple[int, int, Any]]:
        """Pop, in order, every item known strictly before ``limit_ns``.

        Items pushed while iterating are included when they qualify.
        """
        heap = self._heap
        while heap and heap[0][0] < limit_ns:
            known, priority, key, _arrival, payload = heapq.heappop(heap)
            if not isinstance(payload, _Run):
                self._pending -= 1
                yield known, priority, payload
                continue
            yield from self._drain(payload, priority, key, limit_ns)

    def pop_oldest(self) -> tuple[int, int, Any]:
        known, priority, key, _arrival, payload = heapq.heappop(self._heap)
        if not isinstance(payload, _Run):
            self._pending -= 1
            return known, priority, payload
        item = self._take(payload, priority)
        entry = self._next_entry(payload, priority, key)
        if entry is not None:
            heapq.heappush(self._heap, (*entry, payload))
        return item

    def _drain(
        self, run: _Run, priority: int, key: str, limit_ns: float
    ) -> Iterator[tuple[int, int, Any]]:
        """Hand out ``run``'s next item, then the following ones while each is still the
        heap's first and known before ``limit_ns``; the rest goes back on the heap."""
        heap = self._heap
        while True:
            yield self._take(run, priority)
            entry = self._next_entry(run, priority, key)
            if entry is None:
                return
            if entry[0] >= limit_ns or (heap and heap[0][:4] < entry):
                heapq.heappush(heap, (*entry, run))
                return

    def _take(self, run: _Run, priority: int) -> tuple[int, int, Any]:
        i = run.next
        run.next = i + 1
        self._pending -= 1
        return run.known[i], priority, run.payloads[i]

    @staticmethod
    def _next_entry(run: _Run, priority: int, key: str) -> tuple[int, int, str, int] | None:
        """The heap key of ``run``'s next item (``None`` once it is done)."""
        if run.next == len(run.payloads):
            return None
        return run.known[run.next], priority, key, run.first_arrival + run.next
