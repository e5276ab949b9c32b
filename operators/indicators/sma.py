"""Simple moving average: the mean of the last ``period`` values.

Matches ``talib.SMA``: the first value comes with the ``period``-th input (TA-Lib lookback
``period - 1``). TA-Lib keeps an unbounded running sum; here the window sum is recomputed
exactly every ``period`` steps (see ``_rolling``), so it cannot drift over long runs.
"""

from __future__ import annotations

from operators.indicators._base import SeriesIndicator
from operators.indicators._inputs import NAN, checked_period
from operators.indicators._program import KIND_SMA, StateLayout, state_layout
from operators.indicators._rolling import WINDOW_COUNTERS, sum_window_state


class SMA(SeriesIndicator):
    """Simple moving average over ``period`` values.

    >>> sma = SMA(3)
    >>> [sma.update(x) for x in (1, 2, 3, 4, 8)]
    [nan, nan, 2.0, 3.0, 5.0]
    >>> sma.value
    5.0
    """

    __slots__ = ("period",)

    def __init__(self, period: int) -> None:
        self._configure(period)
        self._start()

    def _configure(self, period: int) -> None:
        self.period = checked_period(period, "SMA")

    def _arguments(self) -> tuple[int]:
        return (self.period,)

    @classmethod
    def layout_for(cls, period: int) -> StateLayout:
        """State: value, then a sum window of ``period`` values."""
        return state_layout(KIND_SMA, (period,), [NAN, *sum_window_state(period)], WINDOW_COUNTERS)

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
