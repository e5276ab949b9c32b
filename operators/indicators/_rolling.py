"""Fixed-size ring buffers with running sums that do not drift.

A running sum updated by ``+ new - old`` picks up a rounding error on every step; over tens of
thousands of candles it wanders away from the true window sum, and after a fall in level (a
spike leaving the window) the error of the large terms stays behind in a small sum. Both
windows here resynchronise: each time the ring index wraps (every ``size`` pushes, and at the
moment the window first fills) the sum is recomputed exactly with a correctly rounded sum
(``math.fsum``'s algorithm), and the squared deviations by a two-pass sum, so slow drift never
spans more than one window; and each keeps a bound on the magnitudes that passed through it,
resyncing at once when that bound is no longer negligible against what it tracks. The cost is
O(size) every ``size`` pushes — O(1) amortised — plus a rare early resync after a collapse in
level or spread. (For a series whose window sum hovers around zero, e.g. a zero-mean
oscillator, the early resync fires often and the cost tends to O(size) per push: correct,
slower.)

``RollingMoments`` also tracks ``m2`` (sum of squared deviations from the mean) with the
sliding-window Welford update on shifted values, which stays accurate where ``Σx² − n·mean²``
would cancel catastrophically (prices near 46,000 with a spread of a few dollars).

The arithmetic lives in :mod:`._kernels` (``sum_push``, ``moments_push``), where the SMA,
Bollinger, volatility and z-score loops use it on their state vectors; the classes here are the
same windows as objects, for inspection and tests.

>>> w = RollingMoments(3)
>>> for x in (1.0, 2.0, 3.0, 4.0):
...     w.push(x)
>>> w.full, w.mean, w.variance(ddof=0)
(True, 3.0, 0.6666666666666666)
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

SUM_HEADER = 2
"""Floats before the buffer in a sum window's state: total, bound."""
MOMENTS_HEADER = 4
"""Floats before the buffer in a moments window's state: shift, shifted sum, m2, bound."""
RESYNC_RATIO = 1e6
"""Resync when the error bound exceeds what the window tracks by this factor (error ~1e-10)."""


def sum_window_state(size: int) -> list[float]:
    """Initial ``f`` state of a sum window: total, bound, then ``size`` buffer slots."""
    return [0.0] * (SUM_HEADER + size)


def moments_window_state(size: int) -> list[float]:
    """Initial ``f`` state of a moments window: shift, shifted sum, m2, bound, buffer."""
    return [0.0] * (MOMENTS_HEADER + size)


WINDOW_COUNTERS = [0, 0]
"""Initial ``s`` state of either window: ring position, full flag."""


def _kernels() -> ModuleType:
    from operators.indicators import _kernels

    return _kernels


class _Window:
    __slots__ = ("_f", "_s", "size")

    RESYNC_RATIO = RESYNC_RATIO

    def __init__(self, size: int, header: int) -> None:
        self.size = size
        self._f = np.zeros(header + size, dtype=np.float64)
        self._s = np.zeros(2, dtype=np.int64)

    @property
    def full(self) -> bool:
        """True once ``size`` values have been pushed."""
        return bool(self._s[1])


class RollingSum(_Window):
    """The last ``size`` values and their sum.

    Besides the resync at every wrap, the sum resyncs early when the magnitudes added and
    removed since the last resync dwarf the sum itself (the level fell by orders of magnitude:
    the rounding error of the large terms would outlive them).

    >>> w = RollingSum(2)
    >>> w.push(1.0); w.full
    False
    >>> w.push(2.0); w.push(4.0); (w.full, w.total)
    (True, 6.0)
    """

    __slots__ = ()

    def __init__(self, size: int) -> None:
        super().__init__(size, SUM_HEADER)

    @property
    def total(self) -> float:
        """Sum of the window (exact at each resync, meaningful once ``full``)."""
        return float(self._f[0])

    def push(self, x: float) -> None:
        """Add ``x`` (a finite float), dropping the oldest value once the window is full."""
        _kernels().sum_push(self._f, self._s, float(x))


class RollingMoments(_Window):
    """The last ``size`` values with their mean and sum of squared deviations.

    Values are held relative to a shift (a recent value of the window, re-chosen at each
    resync), so rounding errors scale with the spread of the window rather than its level;
    a flat window is exactly flat (variance exactly 0). The sliding update also accumulates a
    bound on its own rounding error, and resynchronises early when that bound is no longer
    negligible against ``m2`` (a quiet window after a burst, where ``m2`` shrinks by orders of
    magnitude and a subtractive update would keep only noise).

    >>> w = RollingMoments(4)
    >>> for x in (2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0):
    ...     w.push(x)
    >>> w.mean, w.variance(ddof=0), w.variance(ddof=1)
    (6.5, 2.75, 3.6666666666666665)
    >>> w.deviation(9.0)
    2.5
    """

    __slots__ = ()

    def __init__(self, size: int) -> None:
        super().__init__(size, MOMENTS_HEADER)

    @property
    def m2(self) -> float:
        """Sum of squared deviations from the mean over the window."""
        return float(self._f[2])

    @property
    def mean(self) -> float:
        """Mean of the window (meaningful once ``full``)."""
        return float(self._f[0] + self._f[1] / self.size)

    def deviation(self, x: float) -> float:
        """``x - mean``, computed without the rounding error of the mean's magnitude."""
        return float(_kernels().moments_deviation(self._f, float(x)))

    def variance(self, ddof: int) -> float:
        """Variance of the full window with ``ddof`` delta degrees of freedom (never negative)."""
        return float(_kernels().moments_variance(self._f, ddof))

    def push(self, x: float) -> None:
        """Add ``x`` (a finite float), dropping the oldest value once the window is full."""
        _kernels().moments_push(self._f, self._s, float(x))
