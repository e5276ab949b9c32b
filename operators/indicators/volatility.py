"""Rolling volatility: the sample standard deviation of the last ``period`` log returns.

``r_t = ln(close_t / close_{t-1})``; the value is ``std(r, ddof=1)`` over the last ``period``
returns — per bar, not annualised (multiply by ``sqrt(bars per year)`` for that). The sample
(``ddof=1``) estimator is used because the window is a sample of the return process; it is what
``polars``' ``rolling_std`` and ``pandas``' ``rolling().std()`` give by default. The first value
comes with close number ``period + 1``. Closes must be strictly positive.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from operators.indicators._base import SeriesIndicator
from operators.indicators._inputs import NAN, checked_column, checked_float, checked_period
from operators.indicators._program import KIND_VOLATILITY, StateLayout, state_layout
from operators.indicators._rolling import WINDOW_COUNTERS, moments_window_state


class Volatility(SeriesIndicator):
    """Sample standard deviation of ``period`` log returns of the close.

    >>> vol = Volatility(2)
    >>> out = [vol.update(x) for x in (100.0, 110.0, 99.0, 108.9)]
    >>> out[:2], round(out[2], 12), round(out[3], 12)
    ([nan, nan], 0.141895609547, 0.141895609547)
    """

    __slots__ = ("period",)

    def __init__(self, period: int) -> None:
        self._configure(period)
        self._start()

    def _configure(self, period: int) -> None:
        self.period = checked_period(period, "Volatility", minimum=2)

    def _arguments(self) -> tuple[int]:
        return (self.period,)

    @classmethod
    def layout_for(cls, period: int) -> StateLayout:
        """State: value, previous close, then a moments window of ``period`` returns."""
        f = [NAN, NAN, *moments_window_state(period)]
        return state_layout(KIND_VOLATILITY, (period,), f, WINDOW_COUNTERS)

    def __repr__(self) -> str:
        return f"Volatility({self.period})"

    @staticmethod
    def warmup_for(period: int) -> int:
        """Closes needed before the first value."""
        return period + 1

    @property
    def warmup(self) -> int:
        """Closes needed before the first value."""
        return self.period + 1

    def update(self, value: float) -> float:
        """Consume one close (finite, > 0); return the current volatility (``nan`` until warm)."""
        close = checked_float(value, "close", self)
        if close <= 0.0:
            raise ValueError(f"{self}: close must be > 0, got {close!r}")
        column = np.array([close])
        return float(self._run(column, column, column, column)[0, 0])

    def update_many(self, values: ArrayLike) -> np.ndarray:
        """Consume a batch of closes (all finite and > 0, checked first)."""
        column = checked_column(values, "close", self)
        if len(column) and column.min() <= 0.0:
            index = int(np.argmax(column <= 0.0))
            raise ValueError(f"{self}: close[{index}] must be > 0, got {float(column[index])!r}")
        return self._run(column, column, column, column)[0]
