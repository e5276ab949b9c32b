"""Exponential moving average, seeded as TA-Lib seeds it.

``k = 2 / (period + 1)``. No value for the first ``period - 1`` inputs; the ``period``-th output
is the simple mean of the first ``period`` inputs (TA-Lib's default compatibility mode); after
that ``ema = (x - ema) * k + ema`` — the same operations in the same order as ``talib.EMA``.
"""

from __future__ import annotations

from operators.indicators._base import SeriesIndicator
from operators.indicators._inputs import NAN, checked_period


class EMA(SeriesIndicator):
    """Exponential moving average with TA-Lib's SMA seed.

    >>> ema = EMA(3)  # k = 0.5
    >>> [ema.update(x) for x in (1, 2, 3, 5, 1)]
    [nan, nan, 2.0, 3.5, 2.25]
    """

    __slots__ = ("_count", "_seed_sum", "k", "period")

    def __init__(self, period: int) -> None:
        self.period = checked_period(period, "EMA")
        self.k = 2.0 / (self.period + 1)
        self._count = 0
        self._seed_sum = 0.0
        self._value = NAN

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

    def _step(self, x: float) -> float:
        if self._count >= self.period:
            prev = self._value
            self._value = (x - prev) * self.k + prev
            return self._value
        self._count += 1
        self._seed_sum += x
        if self._count == self.period:
            self._value = self._seed_sum / self.period
        return self._value
