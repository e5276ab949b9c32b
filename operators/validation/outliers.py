"""Price outliers: robust z-score against a rolling window of recent accepted prices.

``z = |price − median| / scale`` with ``scale = max(1.4826·MAD, min_relative_scale·median)``
over the last ``window`` accepted prices of the symbol (1.4826·MAD estimates the standard
deviation of normal data and ignores the very outliers it hunts). The floor keeps a window of
identical prices (MAD 0, common on illiquid pairs) from flagging every new tick. Prices are
judged once ``min_history`` prices have been accepted; before that they are accepted as they
come.

The statistics are refreshed every :data:`REFRESH_ROWS` rows, so each chunk is judged in one
step against the window as it stood at most that many rows earlier. Chunks without an outlier
(nearly all) are judged by a compiled loop (:mod:`._kernels`). A call of several chunks sorts
the window once and keeps that copy sorted beside it (a chunk's evicted and accepted prices
merged in one pass): the median is read off it and the MAD found by walking out from the
median, instead of two selections over the whole window per chunk; a shorter call keeps the
selections. The statistics are the same floats. The copy lives for the call only (kept in the
state it would add 4 KB per symbol, 40 MB at 10,000 symbols). A chunk with an outlier is
judged by the numpy code here, which also tracks level shifts.

A real level shift (a crash, a listing pump) would otherwise be flagged for ever, since flagged
prices never enter the window. So after ``resync_after`` consecutive flagged prices that agree
with each other (each within the threshold of their own median), the window is re-seeded with
them: they stay dead-lettered, later prices are judged against the new level.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from operators.validation.config import ValidationConfig

MAD_TO_SIGMA = 1.4826
REFRESH_ROWS = 32

_judge: Any = None


def _judge_until_outlier() -> Any:
    """The compiled clean-chunk loop (:mod:`._kernels`), imported with numba on first use."""
    global _judge
    if _judge is None:
        from operators.validation._kernels import judge_until_outlier

        _judge = judge_until_outlier
    return _judge


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

    def __deepcopy__(self, memo: dict[int, object]) -> PriceOutlierDetector:
        """Snapshots (Bytewax deep-copies state every epoch): copy the window and the run."""
        clone = copy.copy(self)
        clone._window = self._window.copy()
        clone._run = list(self._run)
        return clone

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
        """Flag outliers among ``candidates``; the other candidates join the window.

        Chunks without an outlier are judged by the compiled loop; a chunk holding one is
        judged here, where the run of flagged prices is tracked for a level shift.
        """
        n = len(prices)
        result = OutlierCheck(
            np.zeros(n, dtype=bool), np.zeros(n), np.full(n, np.nan), np.full(n, np.nan)
        )
        in_place = bool(candidates.all())  # the usual batch: the loop fills the result itself
        if in_place:
            rows = np.arange(n)
            judged = np.ascontiguousarray(prices, dtype=np.float64)
            z, median, scale = result.z, result.median, result.scale
        else:
            rows = np.flatnonzero(candidates)
            judged = np.ascontiguousarray(prices[rows], dtype=np.float64)
            z, median, scale = np.zeros(rows.size), np.empty(rows.size), np.empty(rows.size)
        position = 0
        while position < rows.size:
            consumed, self._next, self._filled = _judge_until_outlier()(
                judged[position:],
                self._window,
                self._next,
                self._filled,
                self.min_history,
                self.threshold,
                self.min_relative_scale,
                REFRESH_ROWS,
                z[position:],
                median[position:],
                scale[position:],
            )
            if consumed:
                self._run.clear()  # prices were accepted: a run of outliers is broken
            if consumed and not in_place:
                done = rows[position : position + consumed]
                result.z[done] = z[position : position + consumed]
                result.median[done] = median[position : position + consumed]
                result.scale[done] = scale[position : position + consumed]
            position += consumed
            if position < rows.size:
                position = self._judge_chunk_with_outlier(prices, rows, position, result)
        return result

    def _judge_chunk_with_outlier(
        self, prices: np.ndarray, rows: np.ndarray, position: int, result: OutlierCheck
    ) -> int:
        """Judge the chunk of ``rows`` starting at ``position``; return where the next starts."""
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
        return position + chunk.size

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
