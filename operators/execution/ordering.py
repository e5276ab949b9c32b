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
heap operation per bar. :meth:`EventBuffer.pop_spans_until` hands such a stretch out in one
piece, for a caller that can process it faster than bar by bar. A run pushed right after
another of the same priority and key (nothing of that priority and key pushed between them),
continuing its instants, joins it while it waits: bars that arrive a batch at a time (a live
feed, a paced replay) are handed out as one stretch too.

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
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import Any

Span = tuple[int, Sequence[int], Sequence[Any], int, int]
"""Items handed out together: priority, known instants, payloads, first and end index."""

MAX_JOINED_RUN = 4096
"""A waiting run takes a later run's items only while it holds fewer than this many: joining
copies the waiting items, so the cost per push stays bounded."""


class _Run:
    """Items of one priority and key, in non-decreasing ``known`` order, with consecutive
    arrival numbers from ``first_arrival``; ``next`` is the first not yet handed out."""

    __slots__ = ("first_arrival", "known", "next", "payloads")

    def __init__(self, known: Sequence[int], first_arrival: int, payloads: Sequence[Any]) -> None:
        self.known = known
        self.first_arrival = first_arrival
        self.payloads = payloads
        self.next = 0


def _joined(waiting: Sequence[Any], start: int, later: Sequence[Any]) -> Sequence[Any] | None:
    """``waiting[start:]`` followed by ``later``, as the same kind of sequence (``None``: the
    two cannot be joined, e.g. columns of another symbol)."""
    if type(waiting) is not type(later):
        return None
    if isinstance(waiting, list):
        return waiting[start:] + later
    if isinstance(waiting, array):
        return waiting[start:] + later if waiting.typecode == later.typecode else None
    tail_joined = getattr(waiting, "tail_joined", None)
    return None if tail_joined is None else tail_joined(start, later)


class EventBuffer:
    """A min-heap of pending items by event time (picklable)."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str, int, Any]] = []
        self._arrivals = 0
        self._pending = 0
        self._joinable: dict[tuple[int, str], _Run] = {}
        """Per priority and key, the waiting run pushed last, while nothing of that priority
        and key was pushed after it."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"_joinable": {}, **state})  # snapshots from before joining

    def __len__(self) -> int:
        return self._pending

    @property
    def oldest_ns(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def push(self, known_ns: int, priority: int, key: str, payload: Any) -> None:
        self._joinable.pop((priority, key), None)
        self._arrivals += 1
        self._pending += 1
        heapq.heappush(self._heap, (known_ns, priority, key, self._arrivals, payload))

    def push_run(
        self, known: Sequence[int], priority: int, key: str, payloads: Sequence[Any]
    ) -> None:
        """Push ``payloads`` (known at ``known``, in that order) as if one by one.

        The buffer keeps both sequences as they are (no copy): compact columns stay compact
        (:mod:`~operators.execution.buffered_columns`); do not change them afterwards. When the
        run pushed last with this priority and key still waits and ``known`` continues it, the
        items join it instead (see :meth:`_join`).
        """
        if not payloads:
            return
        ordered = all(a <= b for a, b in pairwise(known))
        if not ordered:  # an unsorted batch: each item finds its own place
            for known_ns, payload in zip(known, payloads, strict=True):
                self.push(known_ns, priority, key, payload)
            return
        waiting = self._joinable.get((priority, key))
        if waiting is not None and self._join(waiting, known, payloads):
            return
        run = _Run(known, self._arrivals + 1, payloads)
        self._arrivals += len(run.payloads)
        self._pending += len(run.payloads)
        heapq.heappush(self._heap, (run.known[0], priority, key, run.first_arrival, run))
        self._joinable[priority, key] = run

    def _join(self, run: _Run, known: Sequence[int], payloads: Sequence[Any]) -> bool:
        """Append ``payloads`` to the waiting ``run`` of their priority and key, if they
        continue it (first instant not before its last). Items are ordered by ``(known,
        priority, key, arrival)`` and arrival only matters between items of one priority and
        key, none of which arrived since ``run``: numbering the new items on from the run's
        last keeps every order the heap decides. The run's handed-out items are dropped (its
        numbering restarts at its next item, so its heap entry stays right)."""
        start = run.next
        if start == len(run.payloads) or known[0] < run.known[-1]:
            return False
        if len(run.payloads) - start + len(payloads) > MAX_JOINED_RUN:
            return False
        joined_known = _joined(run.known, start, known)
        joined_payloads = _joined(run.payloads, start, payloads)
        if joined_known is None or joined_payloads is None:
            return False
        run.known, run.payloads = joined_known, joined_payloads
        run.first_arrival += start
        run.next = 0
        self._arrivals += len(payloads)
        self._pending += len(payloads)
        return True

    def pop_until(self, limit_ns: float) -> Iterator[tuple[int, int, Any]]:
        """Pop, in order, every item known strictly before ``limit_ns``.

        Do not push while iterating: a run's items are handed out up to the next item the heap
        held when the run came first (see :meth:`pop_spans_until`).
        """
        for priority, known, payloads, start, stop in self.pop_spans_until(limit_ns):
            for i in range(start, stop):
                yield known[i], priority, payloads[i]

    def pop_spans_until(self, limit_ns: float) -> Iterator[Span]:
        """Pop, in order, every item known strictly before ``limit_ns``, as spans: a single
        item is ``(priority, (known,), (payload,), 0, 1)``; consecutive items of one run that
        come before anything else in the heap are one span ``(priority, run's known, run's
        payloads, start, stop)`` — items ``start`` to ``stop - 1``, which the caller processes
        in order before it asks for the next span. Do not push while iterating.

        >>> buf = EventBuffer()
        >>> buf.push_run([60, 120, 180, 240], 1, "A", ["A 1", "A 2", "A 3", "A 4"])
        >>> buf.push(180, 3, "A", "signal A")
        >>> [(payloads[start:stop]) for _, _, payloads, start, stop in buf.pop_spans_until(250)]
        [['A 1', 'A 2', 'A 3'], ('signal A',), ['A 4']]
        """
        heap = self._heap
        while heap and heap[0][0] < limit_ns:
            known, priority, key, _arrival, payload = heapq.heappop(heap)
            if not isinstance(payload, _Run):
                self._pending -= 1
                yield priority, (known,), (payload,), 0, 1
                continue
            run, start = payload, payload.next
            stop = self._span_end(run, priority, key, limit_ns)
            run.next = stop
            self._pending -= stop - start
            entry = self._next_entry(run, priority, key)
            if entry is not None:
                heapq.heappush(heap, (*entry, run))
            else:
                self._forget(run, priority, key)
            yield priority, run.known, run.payloads, start, stop

    def _span_end(self, run: _Run, priority: int, key: str, limit_ns: float) -> int:
        """After ``run``'s next item (the heap's first), the index of its first item that is
        known at or after ``limit_ns`` or comes after the heap's next entry."""
        known, start = run.known, run.next
        end = bisect_left(known, limit_ns, start + 1, len(run.payloads))
        if not self._heap:
            return end
        head = self._heap[0][:4]
        i = bisect_left(known, head[0], start + 1, end)
        while i < end and (known[i], priority, key, run.first_arrival + i) < head:
            i += 1
        return i

    def pop_oldest(self) -> tuple[int, int, Any]:
        known, priority, key, _arrival, payload = heapq.heappop(self._heap)
        if not isinstance(payload, _Run):
            self._pending -= 1
            return known, priority, payload
        item = self._take(payload, priority)
        entry = self._next_entry(payload, priority, key)
        if entry is not None:
            heapq.heappush(self._heap, (*entry, payload))
        else:
            self._forget(payload, priority, key)
        return item

    def _forget(self, run: _Run, priority: int, key: str) -> None:
        """A run handed out entirely is no longer joinable (nor kept alive by the buffer)."""
        if self._joinable.get((priority, key)) is run:
            del self._joinable[priority, key]

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
