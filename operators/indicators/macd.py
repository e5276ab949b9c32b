"""Moving average convergence/divergence, computed as ``talib.MACD`` does.

TA-Lib aligns the two EMAs: both start at the input where the *slow* one is first defined.
The slow EMA is seeded with the mean of the first ``slow`` inputs and the fast EMA with the mean
of the last ``fast`` of those same inputs — so the fast EMA inside MACD differs (for a while)
from a stand-alone ``EMA(fast)``, which seeds ``slow - fast`` inputs earlier. The MACD line is
``fast - slow``; the signal line is an EMA(``signal``) of it seeded with the mean of its first
``signal`` values; ``hist = macd - signal``. All three outputs start together with input
``slow + signal - 1`` (TA-Lib lookback ``slow + signal - 2`` = 33 for 12/26/9); before that
they are NaN, as in TA-Lib. Seed sums add left to right, as TA-Lib does. Operations and order
are TA-Lib's; the outputs agree with ``talib.MACD`` to a few units in the last place of the
price scale.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from operators.indicators._base import Indicator
from operators.indicators._inputs import NAN, checked_column, checked_float, checked_period
from operators.indicators._program import KIND_MACD, StateLayout, state_layout


class MACDValue(NamedTuple):
    """One MACD output: the MACD line, its signal line and their difference."""

    macd: float
    signal: float
    hist: float


class MACD(Indicator):
    """MACD(``fast``, ``slow``, ``signal``) of a series, TA-Lib's way.

    >>> m = MACD(2, 3, 2)
    >>> [m.update(x).macd for x in (1, 2, 3, 4)]
    [nan, nan, nan, 0.5]
    >>> m.value
    MACDValue(macd=0.5, signal=0.5, hist=0.0)
    """

    __slots__ = ("fast", "k_fast", "k_signal", "k_slow", "signal", "slow")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self._configure(fast, slow, signal)
        self._start()

    def _configure(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self.fast = checked_period(fast, "MACD fast")
        self.slow = checked_period(slow, "MACD slow")
        self.signal = checked_period(signal, "MACD signal")
        if self.fast >= self.slow:
            raise ValueError(f"MACD: fast period must be < slow period, got {fast} and {slow}")
        self.k_fast = 2.0 / (self.fast + 1)
        self.k_slow = 2.0 / (self.slow + 1)
        self.k_signal = 2.0 / (self.signal + 1)

    def _arguments(self) -> tuple[int, int, int]:
        return (self.fast, self.slow, self.signal)

    @classmethod
    def layout_for(cls, fast: int = 12, slow: int = 26, signal: int = 9) -> StateLayout:
        """State: macd, signal, hist, fast EMA, slow EMA, signal seed sum, then the first
        ``slow`` inputs (zeroed once seeded); inputs seen while seeding, signal values seen."""
        f = [NAN, NAN, NAN, NAN, NAN, 0.0] + [0.0] * slow
        return state_layout(KIND_MACD, (fast, slow, signal), f, [0, 0], outputs=3)

    def __repr__(self) -> str:
        return f"MACD({self.fast}, {self.slow}, {self.signal})"

    @staticmethod
    def warmup_for(fast: int = 12, slow: int = 26, signal: int = 9) -> int:
        """Inputs needed before the first value."""
        return slow + signal - 1

    @property
    def warmup(self) -> int:
        """Inputs needed before the first value."""
        return self.slow + self.signal - 1

    @property
    def value(self) -> MACDValue:
        """The latest (macd, signal, hist); all NaN until warm."""
        return MACDValue(*self._f[:3].tolist())

    @property
    def ready(self) -> bool:
        """True once the indicator produces values."""
        return bool(self._s[1] >= self.signal)

    def update(self, value: float) -> MACDValue:
        """Consume one value; return the current (macd, signal, hist), NaN until warm."""
        column = np.array([checked_float(value, "value", self)])
        return MACDValue(*self._run(column, column, column, column)[:, 0].tolist())

    def update_many(self, values: ArrayLike) -> np.ndarray:
        """Consume a 1-D batch; return an array of shape (n, 3): macd, signal, hist."""
        column = checked_column(values, "values", self)
        return np.ascontiguousarray(self._run(column, column, column, column).T)
