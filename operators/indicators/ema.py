"""Exponential moving average, seeded as TA-Lib seeds it.

``k = 2 / (period + 1)``. No value for the first ``period - 1`` inputs; the ``period``-th output
is the simple mean of the first ``period`` inputs (TA-Lib's default compatibility mode); after
that ``ema = (x - ema) * k + ema`` — the same operations in the same order as ``talib.EMA``.
"""

from __future__ import annotations

from operators.indicators._base import SeriesIndicator
from operators.indicators._inputs import NAN, checked_period
from operators.indicators._program import KIND_EMA, StateLayout, state_layout


class EMA(SeriesIndicator):
    """Exponential moving average with TA-Lib's SMA seed.

    >>> ema = EMA(3)  # k = 0.5
    >>> [ema.update(x) for x in (1, 2, 3, 5, 1)]
    [nan, nan, 2.0, 3.5, 2.25]
    """

    __slots__ = ("k", "period")

    def __init__(self, period: int) -> None:
        self._configure(period)
        self._start()

    def _configure(self, period: int) -> None:
        self.period = checked_period(period, "EMA")
        self.k = 2.0 / (self.period + 1)

    def _arguments(self) -> tuple[int]:
        return (self.period,)

    @classmethod
    def layout_for(cls, period: int) -> StateLayout:
        """State: value, seed sum; count of inputs seen while seeding."""
        return state_layout(KIND_EMA, (period,), [NAN, 0.0], [0])

    def __repr__(self) -> str:
        return f"EMA({self.period})"

    @staticmethod
    def warmup_for(period: int) -> int:
        """Inputs needed before the first value."""
        return period

    @property
    def warmup(self) -> int:
        """Inputs needed before the first value."""
        return self.period
