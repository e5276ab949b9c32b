"""Duplicate trade ids per symbol, with bounded memory.

An id is a duplicate when it appeared earlier in the same batch or belongs to one of the last
``capacity`` accepted trades of the symbol (100,000 by default). Ids above the highest accepted
id are new without a look-up — the fast path for the increasing ids of Binance and most venues —
so only ids at or below it (replays, reconnect overlaps, venues without ordered ids) are
searched. An id older than the window is not recognised: that is the price of bounded memory.
Unknown ids (-1) are never duplicates.

The remembered ids are kept as *runs* of consecutive ids (``first``, ``last``) in the order they
were accepted: a venue's ids mostly rise by one, so the last 100,000 ids of a symbol usually fit
in one run — a few dozen bytes of state instead of 800 kB — while any pattern (gaps, ids out of
order) stays exact, at 16 bytes per run.
"""

from __future__ import annotations

import numpy as np


class RecentIds:
    """The ids of the last ``capacity`` accepted trades of one symbol; picklable state.

    >>> ids = RecentIds(capacity=4)
    >>> ids.remember(np.array([1, 2, 3]))
    >>> ids.duplicates(np.array([4, 2, 4, -1, -1]), np.ones(5, dtype=bool)).tolist()
    [False, True, True, False, False]
    >>> ids.runs.tolist(), ids.count
    ([[1, 3]], 3)
    """

    __slots__ = ("_firsts", "_lasts", "capacity", "count", "max_id")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = int(capacity)
        self._firsts = np.zeros(0, dtype=np.int64)  # runs in acceptance order, oldest first
        self._lasts = np.zeros(0, dtype=np.int64)
        self.count = 0  # ids remembered (the sum of the run lengths)
        self.max_id = -1

    @property
    def runs(self) -> np.ndarray:
        """The remembered runs as rows ``(first, last)``, oldest first."""
        return np.stack([self._firsts, self._lasts], axis=1)

    def duplicates(self, ids: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Rows among ``candidates`` whose id was seen before (in this batch or remembered)."""
        dup = np.zeros(len(ids), dtype=bool)
        rows = np.flatnonzero(candidates & (ids >= 0))
        if rows.size == 0:
            return dup
        known = ids[rows]
        _, first = np.unique(known, return_index=True)
        repeated = np.ones(rows.size, dtype=bool)
        repeated[first] = False
        dup[rows[repeated]] = True
        suspects = rows[~repeated & (known <= self.max_id)]
        if suspects.size:
            dup[suspects] = self._remembered(ids[suspects])
        return dup

    def _remembered(self, ids: np.ndarray) -> np.ndarray:
        """Which ``ids`` fall in a remembered run (runs never overlap: ids are unique)."""
        order = np.argsort(self._firsts)
        firsts, lasts = self._firsts[order], self._lasts[order]
        run = np.searchsorted(firsts, ids, side="right") - 1
        inside = run >= 0
        inside[inside] = ids[inside] <= lasts[run[inside]]
        return inside

    def remember(self, ids: np.ndarray) -> None:
        """Add the ids of accepted trades, in acceptance order (unknown ids are skipped)."""
        if self._continue_newest_run(ids):  # a live feed's next trades
            self._extend_newest_run(int(ids[-1]), int(ids.size))
            return
        ids = ids[ids >= 0]
        if ids.size == 0:
            return
        self.max_id = max(self.max_id, int(ids.max()))
        if ids.size > self.capacity:
            ids = ids[-self.capacity :]
        breaks = np.flatnonzero(np.diff(ids) != 1) + 1
        firsts = ids[np.concatenate(([0], breaks))]
        lasts = ids[np.concatenate((breaks - 1, [ids.size - 1]))]
        if self._lasts.size and firsts[0] == self._lasts[-1] + 1:  # continues the newest run
            self._lasts[-1] = lasts[0]
            firsts, lasts = firsts[1:], lasts[1:]
        self._firsts = np.concatenate((self._firsts, firsts))
        self._lasts = np.concatenate((self._lasts, lasts))
        self.count += int(ids.size)
        self._forget_beyond_capacity()

    def _continue_newest_run(self, ids: np.ndarray) -> bool:
        """Whether ``ids`` are the ids right after the newest run, one by one: they only
        extend that run (the window then forgets the oldest, as for any ids)."""
        if not ids.size or not self._lasts.size:
            return False
        if ids[0] != self._lasts[-1] + 1:
            return False
        return ids.size == 1 or bool((ids[1:] - ids[:-1] == 1).all())

    def _extend_newest_run(self, last_id: int, added: int) -> None:
        """Remember ``added`` ids continuing the newest run up to ``last_id`` (what
        :meth:`remember` makes of them)."""
        self._lasts[-1] = last_id
        self.max_id = max(self.max_id, last_id)
        self.count += added
        self._forget_beyond_capacity()

    def _forget_beyond_capacity(self) -> None:
        excess = self.count - self.capacity
        if excess <= 0:
            return
        if self._lasts[0] - self._firsts[0] >= excess:  # the oldest run outlives the excess
            self._firsts[0] += excess
            self.count = self.capacity
            return
        lengths = self._lasts - self._firsts + 1
        gone = int(np.searchsorted(np.cumsum(lengths), excess, side="right"))
        excess -= int(lengths[:gone].sum())
        self._firsts, self._lasts = self._firsts[gone:].copy(), self._lasts[gone:].copy()
        self._firsts[0] += excess  # the oldest remaining run loses its oldest ids
        self.count = self.capacity

    def __deepcopy__(self, memo: dict[int, object]) -> RecentIds:
        """Snapshots (Bytewax deep-copies state every epoch): copy the two run arrays."""
        clone = RecentIds.__new__(RecentIds)
        clone.__setstate__(self.__getstate__())
        clone._firsts, clone._lasts = self._firsts.copy(), self._lasts.copy()
        return clone

    def __getstate__(self) -> dict[str, object]:
        return {
            "capacity": self.capacity,
            "firsts": self._firsts,
            "lasts": self._lasts,
            "count": self.count,
            "max_id": self.max_id,
        }

    def __setstate__(self, state: dict[str, object]) -> None:
        self.capacity = state["capacity"]  # type: ignore[assignment]
        self._firsts = state["firsts"]  # type: ignore[assignment]
        self._lasts = state["lasts"]  # type: ignore[assignment]
        self.count = state["count"]  # type: ignore[assignment]
        self.max_id = state["max_id"]  # type: ignore[assignment]
