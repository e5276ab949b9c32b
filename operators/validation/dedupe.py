"""Duplicate trade ids per symbol, with bounded memory.

An id is a duplicate when it appeared earlier in the same batch or belongs to one of the last
``capacity`` accepted trades of the symbol (a ring buffer of ids, 100,000 by default: 800 kB).
Ids above the highest accepted id are new without a look-up — the fast path for the increasing
ids of Binance and most venues — so only ids at or below it (replays, reconnect overlaps,
venues without ordered ids) are searched in the ring. An id older than the ring is not
recognised: that is the price of bounded memory. Unknown ids (-1) are never duplicates.
"""

from __future__ import annotations

import numpy as np


class RecentIds:
    """The ids of the last ``capacity`` accepted trades of one symbol; picklable state.

    >>> ids = RecentIds(capacity=4)
    >>> ids.remember(np.array([1, 2, 3]))
    >>> ids.duplicates(np.array([4, 2, 4, -1, -1]), np.ones(5, dtype=bool)).tolist()
    [False, True, True, False, False]
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._ring = np.full(capacity, -1, dtype=np.int64)
        self._next = 0
        self._filled = 0
        self.max_id = -1

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
            dup[suspects] = np.isin(ids[suspects], self._ring[: self._filled])
        return dup

    def remember(self, ids: np.ndarray) -> None:
        """Add the ids of accepted trades (unknown ids are skipped)."""
        ids = ids[ids >= 0]
        if ids.size == 0:
            return
        self.max_id = max(self.max_id, int(ids.max()))
        capacity = len(self._ring)
        if ids.size > capacity:
            ids = ids[-capacity:]
        slots = (self._next + np.arange(ids.size)) % capacity
        self._ring[slots] = ids
        self._next = int((self._next + ids.size) % capacity)
        self._filled = min(capacity, self._filled + ids.size)
