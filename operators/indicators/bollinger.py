"""Bollinger bands: SMA(``period``) ± ``num_std`` population standard deviations.

Matches ``talib.BBANDS(close, period, num_std, num_std, matype=0)``: the first value comes with
input ``period`` (TA-Lib lookback ``period - 1``), the deviation is the population one
(divide by ``period``). TA-Lib computes the variance as ``mean(x²) − mean²`` from unbounded
running sums, which cancels badly at high prices; here mean and squared deviations come from a
drift-free window (see ``_rolling``), so the bands agree with TA-Lib to well within 1e-9
relative while being the more accurate of the two.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from operators.indicators._base import Indicator
from operators.indicators._inputs import NAN, checked_column, checked_float, checked_period
from operators.indicators._program import KIND_BOLLINGER, StateLayout, state_layout
from operators.indicators._rolling import WINDOW_COUNTERS, moments_window_state


class BollingerValue(NamedTuple):
    """One Bollinger output."""

    upper: float
    middle: float
    lower: float


class Bollinger(Indicator):
    """Bollinger bands over ``period`` values, ``num_std`` population deviations wide.

    >>> bb = Bollinger(4, 2.0)
    >>> [bb.update(x) for x in (2, 4, 4, 4)][-1]
    BollingerValue(upper=5.232050807568877, middle=3.5, lower=1.7679491924311228)
    """

    __slots__ = ("num_std", "period")

    def __init__(self, period: int = 20, num_std: float = 2.0) -> None:
        self._configure(period, num_std)
        self._start()

    def _configure(self, period: int = 20, num_std: float = 2.0) -> None:
        self.period = checked_period(period, "Bollinger")
        self.num_std = checked_float(num_std, "num_std", "Bollinger")

    def _arguments(self) -> tuple[int, float]:
        return (self.period, self.num_std)

    @classmethod
    def layout_for(cls, period: int = 20, num_std: float = 2.0) -> StateLayout:
        """State: upper, middle, lower, then a moments window of ``period`` values."""
        f = [NAN, NAN, NAN, *moments_window_state(period)]
        return state_layout(KIND_BOLLINGER, (period, num_std), f, WINDOW_COUNTERS, outputs=3)

    def __repr__(self) -> str:
        return f"Bollinger({self.period}, {self.num_std:g})"

    @staticmethod
    def warmup_for(period: int = 20, num_std: float = 2.0) -> int:
        """Inputs needed before the first value."""
        return period

    @property
    def warmup(self) -> int:
        """Inputs needed before the first value."""
        return self.period

    @property
    def value(self) -> BollingerValue:
        """The latest (upper, middle, lower); all NaN until warm."""
        return BollingerValue(*self._f[:3].tolist())

    @property
    def ready(self) -> bool:
        """True once the indicator produces values."""
        return bool(self._s[1])

    def update(self, value: float) -> BollingerValue:
        """Consume one value; return the current (upper, middle, lower), NaN until warm."""
        column = np.array([checked_float(value, "value", self)])
        return BollingerValue(*self._run(column, column, column, column)[:, 0].tolist())

    def update_many(self, values: ArrayLike) -> np.ndarray:
        """Consume a 1-D batch; return an array of shape (n, 3): upper, middle, lower."""
        column = checked_column(values, "values", self)
        return np.ascontiguousarray(self._run(column, column, column, column).T)
