"""Relative strength index with Wilder's smoothing, computed as ``talib.RSI`` does.

The first value comes with input ``period + 1`` (TA-Lib lookback ``period``): the average gain
and loss are the plain means of the first ``period`` changes, then Wilder-smoothed:
``avg = (avg * (period - 1) + change) / period``, and ``rsi = 100 * gain / (gain + loss)``.
The operations and their order are TA-Lib's; outputs agree with ``talib.RSI`` to a few units
in the last place.

One deliberate difference: when the price has not moved at all (average gain and average loss
both exactly zero, e.g. a halted or stale feed) TA-Lib returns ``0.0`` — "as oversold as it
gets" — and this RSI returns the neutral ``50.0``, so that a flat market cannot trigger
oversold rules. The value is always within ``[0, 100]``.
"""

from __future__ import annotations

from operators.indicators._base import SeriesIndicator
from operators.indicators._inputs import NAN, checked_period

FLAT_RSI = 50.0
"""RSI reported when the window saw no change at all (TA-Lib reports 0.0 there)."""


class RSI(SeriesIndicator):
    """Wilder's relative strength index over ``period`` changes.

    >>> rsi = RSI(2)
    >>> [round(rsi.update(x), 6) for x in (10, 11, 10.5, 11.5)]
    [nan, nan, 66.666667, 85.714286]
    """

    __slots__ = ("_avg_gain", "_avg_loss", "_count", "_prev", "period")

    def __init__(self, period: int) -> None:
        self.period = checked_period(period, "RSI")
        self._count = 0
        self._prev = NAN
        self._avg_gain = 0.0
        self._avg_loss = 0.0
        self._value = NAN

    def __repr__(self) -> str:
        return f"RSI({self.period})"

    @staticmethod
    def warmup_for(period: int) -> int:
        """Inputs needed before the first value."""
        return period + 1

    @property
    def warmup(self) -> int:
        """Inputs needed before the first value."""
        return self.period + 1

    def _step(self, x: float) -> float:
        count = self._count
        if count == 0:
            self._count = 1
            self._prev = x
            return self._value
        change = x - self._prev
        self._prev = x
        period = self.period
        gain = self._avg_gain
        loss = self._avg_loss
        if count > period:
            gain *= period - 1
            loss *= period - 1
            if change < 0:
                loss -= change
            else:
                gain += change
            gain /= period
            loss /= period
        else:
            if change < 0:
                loss -= change
            else:
                gain += change
            self._count = count + 1
            if count < period:
                self._avg_gain = gain
                self._avg_loss = loss
                return self._value
            gain /= period
            loss /= period
        self._avg_gain = gain
        self._avg_loss = loss
        total = gain + loss
        self._value = 100.0 * (gain / total) if total != 0.0 else FLAT_RSI
        return self._value
