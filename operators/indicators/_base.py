"""Shared shape of the single-series indicators (SMA, EMA, RSI, z-score, volatility).

A subclass implements ``_step(x: float) -> float`` on an already checked plain float and keeps
its last output in ``_value``; this base adds the checked public ``update``, the batch
``update_many`` and the ``value`` property.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from operators.indicators._inputs import checked_column, checked_float


class SeriesIndicator:
    """Base of indicators that read one number per step (usually the close).

    >>> from operators.indicators import SMA
    >>> sma = SMA(2)
    >>> sma.update(1.0), sma.ready, sma.update_many([3.0, 5.0]).tolist(), sma.value
    (nan, False, [2.0, 4.0], 4.0)
    """

    __slots__ = ("_value",)

    _value: float

    def _step(self, x: float) -> float:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    @property
    def value(self) -> float:
        """The latest output (``nan`` until warm)."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once the indicator produces values."""
        return self._value == self._value

    def update(self, value: float) -> float:
        """Consume one value and return the current output (``nan`` until warm).

        Raises ``ValueError`` naming the input when ``value`` is NaN, ±inf or not a number.
        """
        return self._step(checked_float(value, "value", self))

    def update_many(self, values: ArrayLike) -> np.ndarray:
        """Consume a 1-D batch in order; return the output after each value (float64).

        The whole batch is checked first: on a bad value nothing is consumed.
        """
        column = checked_column(values, "values", self)
        return np.fromiter(map(self._step, column.tolist()), dtype=np.float64, count=len(column))
