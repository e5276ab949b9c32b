"""Moving average convergence/divergence, computed as ``talib.MACD`` does.

TA-Lib aligns the two EMAs: both start at the input where the *slow* one is first defined.
The slow EMA is seeded with the mean of the first ``slow`` inputs and the fast EMA with the mean
of the last ``fast`` of those same inputs — so the fast EMA inside MACD differs (for a while)
from a stand-alone ``EMA(fast)``, which seeds ``slow - fast`` inputs earlier. The MACD line is
``fast - slow``; the signal line is an EMA(``signal``) of it seeded with the mean of its first
``signal`` values; ``hist = macd - signal``. All three outputs start together with input
``slow + signal - 1`` (TA-Lib lookback ``slow + signal - 2`` = 33 for 12/26/9); before that
they are NaN, as in TA-Lib. Operations and order are TA-Lib's; the outputs agree with
``talib.MACD`` to a few units in the last place of the price scale.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from operators.indicators._inputs import NAN, checked_column, checked_float, checked_period


class MACDValue(NamedTuple):
    """One MACD output: the MACD line, its signal line and their difference."""

    macd: float
    signal: float
    hist: float


_NOT_WARM = MACDValue(NAN, NAN, NAN)


def _sequential_sum(values: list[float]) -> float:
    """Left-to-right sum (as TA-Lib adds; ``sum()`` compensates on Python 3.12+)."""
    total = 0.0
    for v in values:
        total += v
    return total


class MACD:
    """MACD(``fast``, ``slow``, ``signal``) of a series, TA-Lib's way.

    >>> m = MACD(2, 3, 2)
    >>> [m.update(x).macd for x in (1, 2, 3, 4)]
    [nan, nan, nan, 0.5]
    >>> m.value
    MACDValue(macd=0.5, signal=0.5, hist=0.0)
    """

    __slots__ = (
        "_count",
        "_fast_ema",
        "_inputs",
        "_signal_count",
        "_signal_sum",
        "_slow_ema",
        "_value",
        "fast",
        "k_fast",
        "k_signal",
        "k_slow",
        "signal",
        "slow",
    )

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self.fast = checked_period(fast, "MACD fast")
        self.slow = checked_period(slow, "MACD slow")
        self.signal = checked_period(signal, "MACD signal")
        if self.fast >= self.slow:
            raise ValueError(f"MACD: fast period must be < slow period, got {fast} and {slow}")
        self.k_fast = 2.0 / (self.fast + 1)
        self.k_slow = 2.0 / (self.slow + 1)
        self.k_signal = 2.0 / (self.signal + 1)
        self._count = 0
        self._inputs: list[float] = []  # the first ``slow`` inputs, dropped once seeded
        self._fast_ema = NAN
        self._slow_ema = NAN
        self._signal_count = 0
        self._signal_sum = 0.0
        self._value = _NOT_WARM

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
        return self._value

    @property
    def ready(self) -> bool:
        """True once the indicator produces values."""
        return self._signal_count >= self.signal

    def update(self, value: float) -> MACDValue:
        """Consume one value; return the current (macd, signal, hist), NaN until warm."""
        return self._step(checked_float(value, "value", self))

    def update_many(self, values: ArrayLike) -> np.ndarray:
        """Consume a 1-D batch; return an array of shape (n, 3): macd, signal, hist."""
        column = checked_column(values, "values", self)
        rows = list(map(self._step, column.tolist()))
        return np.array(rows, dtype=np.float64).reshape(len(rows), 3)

    def _step(self, x: float) -> MACDValue:
        if self._count >= self.slow:
            fast = self._fast_ema
            slow = self._slow_ema
            fast = (x - fast) * self.k_fast + fast
            slow = (x - slow) * self.k_slow + slow
            self._fast_ema = fast
            self._slow_ema = slow
        else:
            self._count += 1
            self._inputs.append(x)
            if self._count < self.slow:
                return self._value
            fast = _sequential_sum(self._inputs[-self.fast :]) / self.fast
            slow = _sequential_sum(self._inputs) / self.slow
            self._fast_ema = fast
            self._slow_ema = slow
            self._inputs = []
        line = fast - slow
        if self._signal_count >= self.signal:
            prev = self._value.signal
            signal = (line - prev) * self.k_signal + prev
        else:
            self._signal_count += 1
            self._signal_sum += line
            if self._signal_count < self.signal:
                return self._value
            signal = self._signal_sum / self.signal
        self._value = MACDValue(line, signal, line - signal)
        return self._value
