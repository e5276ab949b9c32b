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

from operators.indicators._base import Indicator
from operators.indicators._inputs import NAN, checked_columns, checked_float, checked_period
from operators.indicators._program import KIND_ATR, StateLayout, state_layout


def true_range(high: float, low: float, prev_close: float) -> float:
    """``max(high - low, |high - prev_close|, |low - prev_close|)``.

    (The compiled ATR loop runs this very function.)

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


class ATR(Indicator):
    """Wilder's average true range over ``period`` true ranges.

    >>> atr = ATR(2)
    >>> [atr.update(h, l, c) for h, l, c in [(10, 8, 9), (11, 9, 10), (12, 10, 11), (11, 7, 8)]]
    [nan, nan, 2.0, 3.0]
    """

    __slots__ = ("period",)

    def __init__(self, period: int) -> None:
        self._configure(period)
        self._start()

    def _configure(self, period: int) -> None:
        self.period = checked_period(period, "ATR")

    def _arguments(self) -> tuple[int]:
        return (self.period,)

    @classmethod
    def layout_for(cls, period: int) -> StateLayout:
        """State: value, previous close, seed sum of true ranges; candles seen while seeding."""
        return state_layout(KIND_ATR, (period,), [NAN, NAN, 0.0], [0])

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
        return float(self._f[0])

    @property
    def ready(self) -> bool:
        """True once the indicator produces values."""
        return self.value == self.value

    def update(self, high: float, low: float, close: float) -> float:
        """Consume one candle and return the current ATR (``nan`` until warm).

        Raises ``ValueError`` naming the input when one is NaN, ±inf or not a number.
        """
        h = np.array([checked_float(high, "high", self)])
        lo = np.array([checked_float(low, "low", self)])
        c = np.array([checked_float(close, "close", self)])
        return float(self._run(h, lo, c, c)[0, 0])

    def update_many(self, high: ArrayLike, low: ArrayLike, close: ArrayLike) -> np.ndarray:
        """Consume candles in order (equal-length columns); return the ATR after each."""
        h, lo, c = checked_columns(self, high=high, low=low, close=close)
        return self._run(h, lo, c, c)[0]
