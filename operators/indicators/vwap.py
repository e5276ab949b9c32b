"""Session VWAP: volume-weighted average typical price since 00:00 UTC.

Each candle contributes its typical price ``(high + low + close) / 3`` weighted by its volume;
the sums restart with the first candle whose open time ``ts_ns`` falls on a new UTC calendar day
(``ts_ns // 86_400 s``). The value is defined from the first candle on. While a session has
traded no volume at all (only zero-volume candles so far) there is nothing to weight, so the
value is the latest candle's typical price instead of a division by zero; a zero-volume candle
later in the session leaves the VWAP unchanged. Volume must be ≥ 0 and ``ts_ns`` must
increase from candle to candle (a repeated candle would count its volume twice).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from operators.indicators._base import Indicator
from operators.indicators._inputs import NAN, checked_columns, checked_float
from operators.indicators._program import KIND_VWAP, StateLayout, state_layout

NS_PER_DAY = 86_400 * 1_000_000_000


class VWAP(Indicator):
    """Volume-weighted average typical price, reset at each UTC midnight.

    >>> v = VWAP()
    >>> v.update(11.0, 9.0, 10.0, 1.0, 0)  # typical 10, volume 1
    10.0
    >>> v.update(14.0, 12.0, 13.0, 3.0, 60_000_000_000)  # (10·1 + 13·3) / 4
    12.25
    >>> v.update(21.0, 19.0, 20.0, 2.0, NS_PER_DAY)  # next UTC day: starts afresh
    20.0
    """

    __slots__ = ()

    def __init__(self) -> None:
        self._start()

    def _configure(self) -> None:
        pass

    def _arguments(self) -> tuple[()]:
        return ()

    @classmethod
    def layout_for(cls) -> StateLayout:
        """State: value, Σ typical·volume, Σ volume; session day, day set, last ts, ts set."""
        return state_layout(KIND_VWAP, (), [NAN, 0.0, 0.0], [0, 0, 0, 0])

    def __repr__(self) -> str:
        return "VWAP()"

    @staticmethod
    def warmup_for() -> int:
        """Candles needed before the first value."""
        return 1

    @property
    def warmup(self) -> int:
        """Candles needed before the first value."""
        return 1

    @property
    def value(self) -> float:
        """The latest session VWAP (``nan`` before the first candle)."""
        return float(self._f[0])

    @property
    def ready(self) -> bool:
        """True once the indicator produces values."""
        return self.value == self.value

    @property
    def last_ts(self) -> int | None:
        """Open time of the last candle consumed (``None`` before the first)."""
        return int(self._s[2]) if self._s[3] else None

    def _checked_ts(self, ts_ns: int) -> int:
        """``ts_ns`` as an int, or ``ValueError`` unless it is later than the last one seen."""
        try:
            ts = int(ts_ns)
        except (TypeError, ValueError):
            raise ValueError(f"{self}: ts_ns must be an integer, got {ts_ns!r}") from None
        last = self.last_ts
        if last is not None and ts <= last:
            raise ValueError(f"{self}: ts_ns must increase, got {ts} after {last}")
        return ts

    def update(self, high: float, low: float, close: float, volume: float, ts_ns: int) -> float:
        """Consume one candle (open time ``ts_ns``); return the session VWAP.

        Raises ``ValueError`` naming the input for a NaN/inf/non-number price or volume, a
        negative volume, or a ``ts_ns`` not later than the previous one.
        """
        h = checked_float(high, "high", self)
        lo = checked_float(low, "low", self)
        c = checked_float(close, "close", self)
        v = checked_float(volume, "volume", self)
        if v < 0.0:
            raise ValueError(f"{self}: volume must be >= 0, got {v!r}")
        ts = np.array([self._checked_ts(ts_ns)], dtype=np.int64)
        columns = [np.array([x]) for x in (h, lo, c, v)]
        return float(self._run(*columns, ts)[0, 0])

    def update_many(
        self,
        high: ArrayLike,
        low: ArrayLike,
        close: ArrayLike,
        volume: ArrayLike,
        ts_ns: ArrayLike,
    ) -> np.ndarray:
        """Consume candles in order (equal-length columns, all checked first)."""
        h, lo, c, v = checked_columns(self, high=high, low=low, close=close, volume=volume)
        ts = np.asarray(ts_ns, dtype=np.int64)
        if ts.shape != h.shape:
            raise ValueError(f"{self}: ts_ns has shape {ts.shape}, expected {h.shape}")
        if len(v) and v.min() < 0.0:
            index = int(np.argmax(v < 0.0))
            raise ValueError(f"{self}: volume[{index}] must be >= 0, got {float(v[index])!r}")
        if len(ts):
            self._checked_ts(int(ts[0]))
            back = np.flatnonzero(np.diff(ts) <= 0)
            if len(back):
                i = int(back[0]) + 1
                raise ValueError(f"{self}: ts_ns[{i}] must increase, got {ts[i]} after {ts[i - 1]}")
        return self._run(h, lo, c, v, ts)[0]
