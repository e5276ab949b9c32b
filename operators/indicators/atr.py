"""Average true range with Wilder's smoothing, computed as ``talib.ATR`` does.

The true range needs the previous close, so the first candle yields none (TA-Lib's ``TRANGE``
starts at the second bar). The first ATR comes with candle ``period + 1`` (TA-Lib lookback
``period``) and is the plain mean of the true ranges of candles 2 … ``period + 1``; after that
``atr = (atr * (period - 1) + tr) / period``. Operations and order are TA-Lib's; the outputs
agree with ``talib.ATR`` to a few units in the last place (the compiled library may round a
multiply-add differently).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from operators.indicators._inputs import NAN, checked_columns, checked_float, checked_period


def true_range(high: float, low: float, prev_close: float) -> float:
    """``max(high - low, |high - prev_close|, |low - prev_close|)``.

    >>> true_range(12.0, 11.0, 9.0)
    3.0
    """
    greatest = high - low
    up = abs(prev_close - high)
    if up > greatest:
        greatest = up
    down = abs(low - prev_close)
    if down > greatest:
        greatest = down
    return greatest


class ATR:
    """Wilder's average true range over ``period`` true ranges.

    >>> atr = ATR(2)
    >>> [atr.update(h, l, c) for h, l, c in [(10, 8, 9), (11, 9, 10), (12, 10, 11), (11, 7, 8)]]
    [nan, nan, 2.0, 3.0]
    """

    __slots__ = ("_count", "_prev_close", "_seed", "_value", "period")

    def __init__(self, period: int) -> None:
        self.period = checked_period(period, "ATR")
        self._count = 0
        self._prev_close = NAN
        self._seed = 0.0  # running sum of the first ``period`` true ranges
        self._value = NAN

    def __repr__(self) -> str:
        return f"ATR({self.period})"

    @staticmethod
    def warmup_for(period: int) -> int:
        """Candles needed before the first value."""
        return period + 1

    @property
    def warmup(self) -> int:
        """Candles needed before the first value."""
        return self.period + 1

    @property
    def value(self) -> float:
        """The latest ATR (``nan`` until warm)."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once the indicator produces values."""
        return self._value == self._value

    def update(self, high: float, low: float, close: float) -> float:
        """Consume one candle and return the current ATR (``nan`` until warm).

        Raises ``ValueError`` naming the input when one is NaN, ±inf or not a number.
        """
        return self._step(
            checked_float(high, "high", self),
            checked_float(low, "low", self),
            checked_float(close, "close", self),
        )

    def update_many(self, high: ArrayLike, low: ArrayLike, close: ArrayLike) -> np.ndarray:
        """Consume candles in order (equal-length columns); return the ATR after each."""
        columns = checked_columns(self, high=high, low=low, close=close)
        step = self._step
        n = len(columns[0])
        lists = [c.tolist() for c in columns]
        return np.fromiter(map(step, *lists), dtype=np.float64, count=n)

    def _step(self, high: float, low: float, close: float) -> float:
        count = self._count
        prev_close = self._prev_close
        self._prev_close = close
        if count == 0:
            self._count = 1
            return self._value
        tr = true_range(high, low, prev_close)
        period = self.period
        if count > period:
            atr = self._value * (period - 1)
            atr += tr
            self._value = atr / period
            return self._value
        # Seeding: the first ``period`` true ranges are summed in order, then averaged.
        self._count = count + 1
        seed = self._seed + tr
        if count == period:
            self._value = seed / period
        self._seed = seed
        return self._value
