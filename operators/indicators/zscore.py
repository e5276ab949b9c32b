"""Z-score of the latest value against its own rolling window.

``z = (x - mean) / std`` where mean and std are over the last ``period`` values *including* ``x``
and std is the population deviation (``ddof=0``) — the same deviation Bollinger bands use, so
with equal periods ``z = ±num_std`` exactly on the bands. The first value comes with input
``period``. When the window is flat (every value equal, so std is exactly 0) the z-score is
``0.0``: the value equals the mean.
"""

from __future__ import annotations

from operators.indicators._base import SeriesIndicator
from operators.indicators._inputs import NAN, checked_period
from operators.indicators._program import KIND_ZSCORE, StateLayout, state_layout
from operators.indicators._rolling import WINDOW_COUNTERS, moments_window_state


class ZScore(SeriesIndicator):
    """Rolling z-score with population standard deviation.

    >>> z = ZScore(4)
    >>> [z.update(x) for x in (2, 4, 4, 4, 5)][3:]
    [0.5773502691896258, 1.7320508075688774]
    """

    __slots__ = ("period",)

    def __init__(self, period: int) -> None:
        self._configure(period)
        self._start()

    def _configure(self, period: int) -> None:
        self.period = checked_period(period, "ZScore", minimum=2)

    def _arguments(self) -> tuple[int]:
        return (self.period,)

    @classmethod
    def layout_for(cls, period: int) -> StateLayout:
        """State: value, then a moments window of ``period`` values."""
        f = [NAN, *moments_window_state(period)]
        return state_layout(KIND_ZSCORE, (period,), f, WINDOW_COUNTERS)

    def __repr__(self) -> str:
        return f"ZScore({self.period})"

    @staticmethod
    def warmup_for(period: int) -> int:
        """Inputs needed before the first value."""
        return period

    @property
    def warmup(self) -> int:
        """Inputs needed before the first value."""
        return self.period
