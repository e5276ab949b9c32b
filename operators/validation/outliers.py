"""Price outliers: robust z-score against a rolling window of recent accepted prices.

``z = |price − median| / scale`` with ``scale = max(1.4826·MAD, min_relative_scale·median)``
over the last ``window`` accepted prices of the symbol (1.4826·MAD estimates the standard
deviation of normal data and ignores the very outliers it hunts). The floor keeps a window of
identical prices (MAD 0, common on illiquid pairs) from flagging every new tick. Prices are
judged once ``min_history`` prices have been accepted; before that they are accepted as they
come.

The statistics are refreshed every :data:`REFRESH_ROWS` rows, so each chunk is judged in one
vectorized step against the window as it stood at most that many rows earlier.

A real level shift (a crash, a listing pump) would otherwise be flagged for ever, since flagged
prices never enter the window. So after ``resync_after`` consecutive flagged prices that agree
with each other (each within the threshold of their own median), the window is re-seeded with
them: they stay dead-lettered, later prices are judged against the new level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from operators.validation.config import ValidationConfig

MAD_TO_SIGMA = 1.4826
REFRESH_ROWS = 32


@dataclass(slots=True)
class OutlierCheck:
    """Flags and, for flagged rows, the statistic that condemned them."""

    flagged: np.ndarray
    z: np.ndarray
    median: np.ndarray
    scale: np.ndarray


def robust_z(
    prices: np.ndarray, window: np.ndarray, min_relative_scale: float
) -> tuple[np.ndarray, float, float]:
    """Robust z-scores of ``prices`` against ``window``, with its median and scale.

    >>> z, median, scale = robust_z(np.array([10.0, 13.0]), np.array([9.0, 10, 11, 12, 8]), 0)
    >>> z.round(2).tolist(), median, round(scale, 4)
    ([0.0, 2.02], 10.0, 1.4826)
    """
    median = float(np.median(window))
    mad = float(np.median(np.abs(window - median)))
    scale = max(MAD_TO_SIGMA * mad, min_relative_scale * abs(median))
    distance = np.abs(prices - median)
    if scale > 0:
        return distance / scale, median, scale
    return np.where(distance > 0, np.inf, 0.0), median, scale


class PriceOutlierDetector:
    """Robust z-score outlier test for one symbol's prices; picklable state.

    >>> d = PriceOutlierDetector(window=50, min_history=5, threshold=10,
    ...                          min_relative_scale=1e-4, resync_after=20)
    >>> prices = np.array([100.0, 100.1, 99.9, 100.0, 100.2, 100.1, 1000.0, 100.0])
    >>> d.check(prices, np.ones(8, dtype=bool)).flagged.tolist()
    [False, False, False, False, False, False, True, False]
    """

    def __init__(
        self,
        window: int,
        min_history: int,
        threshold: float,
        min_relative_scale: float,
        resync_after: int,
    ) -> None:
        self.threshold = float(threshold)
        self.min_history = int(min_history)
        self.min_relative_scale = float(min_relative_scale)
        self.resync_after = int(resync_after)
        self._window = np.zeros(int(window), dtype=np.float64)
        self._next = 0
        self._filled = 0
        self._run: list[float] = []

    @classmethod
    def from_config(cls, config: ValidationConfig) -> PriceOutlierDetector:
        return cls(
            config.outlier_window,
            config.outlier_min_history,
            config.outlier_threshold,
            config.outlier_min_relative_scale,
            config.resync_after,
        )

    @property
    def history(self) -> np.ndarray:
        """The accepted prices currently in the window (oldest first)."""
        if self._filled < len(self._window):
            return self._window[: self._filled].copy()
        return np.roll(self._window, -self._next)

    def check(self, prices: np.ndarray, candidates: np.ndarray) -> OutlierCheck:
        """Flag outliers among ``candidates``; the other candidates join the window."""
        n = len(prices)
        result = OutlierCheck(
            np.zeros(n, dtype=bool), np.zeros(n), np.full(n, np.nan), np.full(n, np.nan)
        )
        rows = np.flatnonzero(candidates)
        position = 0
        while position < rows.size:
            if self._filled < self.min_history:  # warm-up: accept until enough history
                take = rows[position : position + self.min_history - self._filled]
                self._append(prices[take])
                self._run.clear()
                position += take.size
                continue
            chunk = rows[position : position + REFRESH_ROWS]
            z, median, scale = robust_z(
                prices[chunk], self._window[: self._filled], self.min_relative_scale
            )
            flagged = z > self.threshold
            shift = self._level_shift(prices[chunk], flagged)
            if shift is not None:  # rows after the shift are judged against the new level
                end, new_level = shift
                chunk, z, flagged = chunk[: end + 1], z[: end + 1], flagged[: end + 1]
            result.flagged[chunk], result.z[chunk] = flagged, z
            result.median[chunk], result.scale[chunk] = median, scale
            self._append(prices[chunk][~flagged])
            if shift is not None:
                self._window[:] = 0.0
                self._next = self._filled = 0
                self._append(new_level)
            position += chunk.size
        return result

    def _append(self, values: np.ndarray) -> None:
        capacity = len(self._window)
        if values.size > capacity:
            values = values[-capacity:]
        slots = (self._next + np.arange(values.size)) % capacity
        self._window[slots] = values
        self._next = int((self._next + values.size) % capacity)
        self._filled = min(capacity, self._filled + values.size)

    def _level_shift(
        self, prices: np.ndarray, flagged: np.ndarray
    ) -> tuple[int, np.ndarray] | None:
        """Extend the run of consecutive flagged prices; report where it makes a new level.

        Returns (index of the row completing ``resync_after`` consecutive flagged prices that
        agree with each other, those prices), or None.
        """
        if not flagged.any():
            self._run.clear()
            return None
        for i, (price, is_flagged) in enumerate(
            zip(prices.tolist(), flagged.tolist(), strict=True)
        ):
            if not is_flagged:
                self._run.clear()
                continue
            self._run.append(price)
            if len(self._run) >= self.resync_after:
                run = np.array(self._run)
                self._run.clear()
                z, _, _ = robust_z(run, run, self.min_relative_scale)
                if np.all(z <= self.threshold):
                    return i, run
        return None
