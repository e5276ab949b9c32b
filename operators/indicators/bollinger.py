"""Bollinger bands: SMA(``period``) ± ``num_std`` population standard deviations.

Matches ``talib.BBANDS(close, period, num_std, num_std, matype=0)``: the first value comes with
input ``period`` (TA-Lib lookback ``period - 1``), the deviation is the population one
(divide by ``period``). TA-Lib computes the variance as ``mean(x²) − mean²`` from unbounded
running sums, which cancels badly at high prices; here mean and squared deviations come from a
drift-free window (see ``_rolling``), so the bands agree with TA-Lib to well within 1e-9
relative while being the more accurate of the two.
"""

from __future__ import annotations

from math import sqrt
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from operators.indicators._inputs import NAN, checked_column, checked_float, checked_period
from operators.indicators._rolling import RollingMoments


class BollingerValue(NamedTuple):
    """One Bollinger output."""

    upper: float
    middle: float
    lower: float


_NOT_WARM = BollingerValue(NAN, NAN, NAN)


class Bollinger:
    """Bollinger bands over ``period`` values, ``num_std`` population deviations wide.

    >>> bb = Bollinger(4, 2.0)
    >>> [bb.update(x) for x in (2, 4, 4, 4)][-1]
    BollingerValue(upper=5.232050807568877, middle=3.5, lower=1.7679491924311228)
    """

    __slots__ = ("_value", "_window", "num_std", "period")

    def __init__(self, period: int = 20, num_std: float = 2.0) -> None:
        self.period = checked_period(period, "Bollinger")
        self.num_std = checked_float(num_std, "num_std", "Bollinger")
        self._window = RollingMoments(self.period)
        self._value = _NOT_WARM

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
        return self._value

    @property
    def ready(self) -> bool:
        """True once the indicator produces values."""
        return self._window.full

    def update(self, value: float) -> BollingerValue:
        """Consume one value; return the current (upper, middle, lower), NaN until warm."""
        return self._step(checked_float(value, "value", self))

    def update_many(self, values: ArrayLike) -> np.ndarray:
        """Consume a 1-D batch; return an array of shape (n, 3): upper, middle, lower."""
        column = checked_column(values, "values", self)
        rows = list(map(self._step, column.tolist()))
        return np.array(rows, dtype=np.float64).reshape(len(rows), 3)

    def _step(self, x: float) -> BollingerValue:
        window = self._window
        window.push(x)
        if not window.full:
            return self._value
        middle = window.mean
        width = sqrt(window.variance(0)) * self.num_std
        self._value = BollingerValue(middle + width, middle, middle - width)
        return self._value
