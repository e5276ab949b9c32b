"""Fixed-size ring buffers with running sums that do not drift.

A running sum updated by ``+ new - old`` picks up a rounding error on every step; over tens of
thousands of candles it wanders away from the true window sum, and after a fall in level (a
spike leaving the window) the error of the large terms stays behind in a small sum. Both
windows here resynchronise: each time the ring index wraps (every ``size`` pushes, and at the
moment the window first fills) the sum is recomputed exactly with ``math.fsum`` (and the
squared deviations by a two-pass sum), so slow drift never spans more than one window; and
each keeps a bound on the magnitudes that passed through it, resyncing at once when that bound
is no longer negligible against what it tracks. The cost is O(size) every ``size`` pushes —
O(1) amortised — plus a rare early resync after a collapse in level or spread. (For a series
whose window sum hovers around zero, e.g. a zero-mean oscillator, the early resync fires often
and the cost tends to O(size) per push: correct, slower.)

``RollingMoments`` also tracks ``m2`` (sum of squared deviations from the mean) with the
sliding-window Welford update on shifted values, which stays accurate where ``Σx² − n·mean²``
would cancel catastrophically (prices near 46,000 with a spread of a few dollars).

>>> w = RollingMoments(3)
>>> for x in (1.0, 2.0, 3.0, 4.0):
...     w.push(x)
>>> w.full, w.mean, w.variance(ddof=0)
(True, 3.0, 0.6666666666666666)
"""

from __future__ import annotations

from math import fsum


class RollingSum:
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

    __slots__ = ("_bound", "_buffer", "_pos", "full", "size", "total")

    RESYNC_RATIO = 1e6
    """Resync when the magnitudes moved since the last resync exceed |sum| by this factor."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._buffer = [0.0] * size
        self._pos = 0
        self.full = False  # True once ``size`` values have been pushed
        self.total = 0.0
        self._bound = 0.0

    def push(self, x: float) -> None:
        """Add ``x`` (a finite float), dropping the oldest value once the window is full."""
        pos = self._pos
        buffer = self._buffer
        old = buffer[pos]
        buffer[pos] = x
        pos += 1
        if pos == self.size:
            pos = 0
            self._resync()
        else:
            total = self.total + (x - old)
            self.total = total
            if self.full:
                self._bound += abs(x) + abs(old)
                if self._bound > self.RESYNC_RATIO * abs(total):
                    self._resync()
        self._pos = pos

    def _resync(self) -> None:
        self.total = fsum(self._buffer)
        self._bound = abs(self.total)
        self.full = True


class RollingMoments:
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

    __slots__ = ("_bound", "_buffer", "_pos", "_shift", "_shifted_sum", "full", "m2", "size")

    RESYNC_RATIO = 1e6
    """Resync when the accumulated error bound exceeds ``m2`` by this factor (error ~1e-10)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._buffer = [0.0] * size
        self._pos = 0
        self.full = False  # True once ``size`` values have been pushed
        self._shift = 0.0
        self._shifted_sum = 0.0  # sum of (value - shift) over the window
        self.m2 = 0.0
        self._bound = 0.0

    @property
    def mean(self) -> float:
        """Mean of the window (meaningful once ``full``)."""
        return self._shift + self._shifted_sum / self.size

    def deviation(self, x: float) -> float:
        """``x - mean``, computed without the rounding error of the mean's magnitude."""
        return (x - self._shift) - self._shifted_sum / self.size

    def variance(self, ddof: int) -> float:
        """Variance of the full window with ``ddof`` delta degrees of freedom (never negative)."""
        m2 = self.m2
        return m2 / (self.size - ddof) if m2 > 0.0 else 0.0

    def push(self, x: float) -> None:
        """Add ``x`` (a finite float), dropping the oldest value once the window is full."""
        pos = self._pos
        buffer = self._buffer
        old = buffer[pos]
        buffer[pos] = x
        pos += 1
        size = self.size
        if pos == size:
            pos = 0
            self._resync(x)
        elif self.full:
            shift = self._shift
            new = x - shift
            gone = old - shift
            delta = new - gone
            old_mean = self._shifted_sum / size
            self._shifted_sum += delta
            new_mean = self._shifted_sum / size
            a = new - new_mean
            b = gone - old_mean
            self.m2 += delta * (a + b)
            self._bound += abs(delta) * (abs(a) + abs(b))
            if self._bound > self.RESYNC_RATIO * self.m2:
                self._resync(x)
        self._pos = pos

    def _resync(self, shift: float) -> None:
        deviations = [v - shift for v in self._buffer]
        total = fsum(deviations)
        mean = total / self.size
        self._shift = shift
        self._shifted_sum = total
        self.m2 = fsum([(d - mean) * (d - mean) for d in deviations])
        self._bound = self.m2
        self.full = True
