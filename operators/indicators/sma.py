"""Simple moving average: the mean of the last ``period`` values.

Matches ``talib.SMA``: the first value comes with the ``period``-th input (TA-Lib lookback
``period - 1``). TA-Lib keeps an unbounded running sum; here the window sum is recomputed
exactly every ``period`` steps (see ``_rolling``), so it cannot drift over long runs.
"""

from __future__ import annotations

from operators.indicators._base import SeriesIndicator
from operators.indicators._inputs import NAN, checked_period
from operators.indicators._rolling import RollingSum


class SMA(SeriesIndicator):
    """Simple moving average over ``period`` values.

    >>> sma = SMA(3)
    >>> [sma.update(x) for x in (1, 2, 3, 4, 8)]
    [nan, nan, 2.0, 3.0, 5.0]
    >>> sma.value
    5.0
    """

    __slots__ = ("_window", "period")

    def __init__(self, period: int) -> None:
        self.period = checked_period(period, "SMA")
        self._window = RollingSum(self.period)
        self._value = NAN

    def __repr__(self) -> str:
        return f"SMA({self.period})"

    @staticmethod
    def warmup_for(period: int) -> int:
        """Inputs needed before the first value."""
        return period

    @property
    def warmup(self) -> int:
        """Inputs needed before the first value."""
        return self.period

    def _step(self, x: float) -> float:
        window = self._window
        window.push(x)
        if window.full:
            self._value = window.total / self.period
        return self._value
