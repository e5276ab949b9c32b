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
from operators.indicators._program import KIND_RSI, StateLayout, state_layout

FLAT_RSI = 50.0
"""RSI reported when the window saw no change at all (TA-Lib reports 0.0 there)."""


class RSI(SeriesIndicator):
    """Wilder's relative strength index over ``period`` changes.

    >>> rsi = RSI(2)
    >>> [round(rsi.update(x), 6) for x in (10, 11, 10.5, 11.5)]
    [nan, nan, 66.666667, 85.714286]
    """

    __slots__ = ("period",)

    def __init__(self, period: int) -> None:
        self._configure(period)
        self._start()

    def _configure(self, period: int) -> None:
        self.period = checked_period(period, "RSI")

    def _arguments(self) -> tuple[int]:
        return (self.period,)

    @classmethod
    def layout_for(cls, period: int) -> StateLayout:
        """State: value, previous input, average gain, average loss; inputs seen."""
        return state_layout(KIND_RSI, (period,), [NAN, NAN, 0.0, 0.0], [0])

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
