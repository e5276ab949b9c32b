"""Release keyed market data in order, exactly once, and find the holes REST must fill.

A :class:`SequenceGate` guards one stream whose items carry consecutive integer keys: Binance
trade ids (step 1) or candle open times (step = the timeframe). It

* drops anything at or below the last released key (duplicates, replays after a reconnect);
* on a fresh start (no last key), waits ``reorder_window`` and starts at the smallest key seen,
  so frames that arrive out of order at the very beginning are not mistaken for duplicates;
* holds items that arrive ahead of a hole, so a frame that is merely late (out of order) closes
  the hole by itself;
* reports a hole that outlived ``reorder_window`` seconds as missing — the caller fetches it over
  REST and hands the rows back through :meth:`SequenceGate.finish_backfill`;
* while a backfill is in flight, holds every live item, then releases backfilled and held items
  merged in key order.

It is pure: time comes in as arguments, state is a handful of fields (picklable).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Hole:
    """Keys ``first..last`` (inclusive) are missing; ``last`` is None when the hole is open-ended
    (everything after ``first`` up to now, e.g. after a reconnect)."""

    first: int
    last: int | None

    def __str__(self) -> str:
        return f"{self.first}..{'' if self.last is None else self.last}"


@dataclass(frozen=True, slots=True)
class BackfillOutcome:
    """What :meth:`SequenceGate.finish_backfill` did."""

    released: list[Any]
    filled: int  # backfilled items released
    skipped: Hole | None  # a hole given up on: REST had nothing for it


class SequenceGate:
    """Order, de-duplicate and gap-check one keyed stream.

    >>> gate = SequenceGate(step=1, last=10, reorder_window=1.0)
    >>> gate.offer(11, "a", now=0.0)
    ['a']
    >>> gate.offer(13, "c", now=0.0)        # 12 is missing: hold 13
    []
    >>> gate.offer(12, "b", now=0.5)        # late, not lost: released with 13
    ['b', 'c']
    >>> gate.offer(12, "b", now=0.6), gate.duplicates   # a duplicate is dropped and counted
    ([], 1)
    >>> gate.offer(16, "f", now=1.0); gate.missing(now=1.5) is None, gate.missing(now=2.0)
    []
    (True, Hole(first=14, last=15))
    >>> gate.start_backfill(); gate.finish_backfill([(14, "d"), (15, "e")], now=2.1).released
    ['d', 'e', 'f']
    """

    def __init__(self, step: int = 1, last: int | None = None, reorder_window: float = 1.0):
        if step <= 0:
            raise ValueError(f"step must be > 0, got {step}")
        if reorder_window < 0:
            raise ValueError(f"reorder_window must be >= 0 seconds, got {reorder_window}")
        self.step = int(step)
        self.last = None if last is None else int(last)
        self.reorder_window = float(reorder_window)
        self.duplicates = 0
        self._pending: dict[int, Any] = {}
        self._hole_since: float | None = None
        self._anchor_since: float | None = None
        self._backfilling = False

    @property
    def backfilling(self) -> bool:
        return self._backfilling

    @property
    def held(self) -> int:
        """Items waiting behind a hole or a backfill."""
        return len(self._pending)

    def offer(self, key: int, item: Any, now: float) -> list[Any]:
        """Take one live item; returns the items now releasable, in key order."""
        key = int(key)
        if (self.last is not None and key <= self.last) or key in self._pending:
            self.duplicates += 1
            return []
        self._pending[key] = item
        if self._backfilling:
            return []
        if self.last is None:
            return self.poll(now)
        return self._drain(now)

    def poll(self, now: float) -> list[Any]:
        """Release what time alone makes releasable: on a fresh start, once the first item has
        waited ``reorder_window``, the sequence starts at the smallest key seen."""
        if self.last is not None or self._backfilling or not self._pending:
            return []
        if self._anchor_since is None:
            self._anchor_since = now
        if now - self._anchor_since < self.reorder_window:
            return []
        self.last = min(self._pending) - self.step
        return self._drain(now)

    def missing(self, now: float) -> Hole | None:
        """The hole to backfill, once it has outlived the reorder window (else None)."""
        if self._backfilling or self._hole_since is None or self.last is None:
            return None
        if now - self._hole_since < self.reorder_window:
            return None
        return Hole(self.last + self.step, min(self._pending) - self.step)

    def resync(self) -> Hole | None:
        """After a (re)connect: hold live items until REST has caught up from the last key.

        Returns the open-ended hole to fetch, or None when nothing was released yet (a fresh
        start has no position to catch up from).
        """
        if self.last is None:
            return None
        self._backfilling = True
        return Hole(self.last + self.step, None)

    def start_backfill(self) -> None:
        """Hold live items while the caller fetches :meth:`missing`."""
        self._backfilling = True

    def finish_backfill(
        self, items: Iterable[tuple[int, Any]], now: float, *, bounded: bool = True
    ) -> BackfillOutcome:
        """Merge fetched ``(key, item)`` pairs with the held live items and release them.

        A bounded hole (from :meth:`missing`) that REST could not fill at all is skipped — the
        exchange has nothing for it — and reported; a partly filled one stays open and will be
        reported by :meth:`missing` again.
        """
        self._backfilling = False
        fetched = 0
        for key, item in items:
            key = int(key)
            if (self.last is None or key > self.last) and key not in self._pending:
                self._pending[key] = item
                fetched += 1
        if self.last is None and self._pending:
            self.last = min(self._pending) - self.step
        released = self._drain(now)
        skipped = None
        if self._pending and bounded and fetched == 0 and self.last is not None:
            skipped = Hole(self.last + self.step, min(self._pending) - self.step)
            self.last = min(self._pending) - self.step
            released += self._drain(now)
        elif self._pending:
            self._hole_since = now  # give live data a fresh reorder window before asking again
        filled = min(fetched, len(released))
        return BackfillOutcome(released, filled, skipped)

    def abandon_backfill(self, now: float) -> None:
        """The fetch failed: keep holding, and retry once the hole outlives the window again."""
        self._backfilling = False
        if self._pending:
            self._hole_since = now

    def _drain(self, now: float) -> list[Any]:
        out: list[Any] = []
        pending = self._pending
        if self.last is None:
            return out
        nxt = self.last + self.step
        while nxt in pending:
            out.append(pending.pop(nxt))
            self.last = nxt
            nxt += self.step
        if not pending:
            self._hole_since = None
        elif self._hole_since is None or out:
            self._hole_since = now
        return out
