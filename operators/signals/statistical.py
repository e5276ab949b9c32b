"""Statistical signal generators: z-score mean reversion, volatility breakout, trend strength.

Each reads the last ``window`` prices of the candle's timeframe from the view's shared
:class:`~operators.signals.market_view.PriceRing` (no dependency on how the indicator bank
defines its columns; no window of its own), computes one statistic per closed candle, emits a
signal at every close where the statistic is past its entry level, and derives the confidence
from the statistic with the normal-CDF ramp ``ceiling · (2Φ(|s| / scale) − 1)`` (see
:func:`operators.signals.confidence.ramp_confidence`): stronger evidence, higher confidence,
never above ``ceiling``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from operators.signals.base import build_signal
from operators.signals.confidence import ramp_confidence
from operators.signals.market_view import CandleRow, MarketView, PriceRing
from operators.signals.release import Release
from schemas.common import Direction, Timeframe
from schemas.signals import Signal

_sum = np.add.reduce


def mean_std(values: np.ndarray, ddof: int = 0) -> tuple[float, float]:
    """``values.mean()`` and ``values.std(ddof=ddof)`` of a 1-D float64 array with at least
    ``ddof + 1`` values: numpy's own operations (one summation for the mean, squared deviations
    summed the same way, one correctly rounded square root), without its dispatch around them —
    a candle's statistics on the live path cost a third as much, the same values to the last bit.

    >>> mean_std(np.array([1.0, 2.0, 3.0, 4.0]))
    (2.5, 1.118033988749895)
    >>> values = np.array([1.0, 2.0, 3.0, 4.0])
    >>> mean_std(values, ddof=1) == (float(values.mean()), float(values.std(ddof=1)))
    True
    """
    count = len(values)
    mean = float(_sum(values)) / count
    return mean, math.sqrt(float(_sum(np.square(values - mean))) / (count - ddof))


@lru_cache(maxsize=16)
def _centered_time(n: int) -> tuple[np.ndarray, float]:
    """``x − mean(x)`` for ``x = 0 … n−1`` (read-only) and its sum of squares."""
    x = np.arange(n, dtype=np.float64)
    centered = x - x.mean()
    centered.setflags(write=False)
    return centered, float(centered @ centered)


def zscore(closes: np.ndarray) -> float:
    """z of the last close against the window's mean and population standard deviation.

    >>> round(zscore(np.array([1.0, 2.0, 3.0, 4.0, 10.0])), 6)
    1.897367
    >>> zscore(np.array([5.0, 5.0, 5.0]))
    nan
    """
    return _z_and_mean(closes)[0]


def _z_and_mean(closes: np.ndarray) -> tuple[float, float]:
    mean, std = mean_std(closes)
    return ((float(closes[-1]) - mean) / std if std > 0 else math.nan), mean


def return_surprise(closes: np.ndarray) -> float:
    """Last log return over the sample standard deviation of the window's earlier log returns.

    >>> closes = np.exp(np.cumsum([0.0, 0.01, -0.01, 0.01, -0.01, 0.05]))
    >>> round(return_surprise(closes), 4)
    4.3301
    """
    logs = np.log(closes)
    returns = logs[1:] - logs[:-1]  # np.diff
    if len(returns) < 3:
        return math.nan
    _, sigma = mean_std(returns[:-1], ddof=1)
    if not sigma > 0:
        return math.nan
    return float(returns[-1]) / sigma


def slope_t_statistic(closes: np.ndarray) -> tuple[float, float]:
    """OLS of log close on time: (slope per candle, t-statistic of the slope).

    >>> slope, t = slope_t_statistic(np.exp(np.array([0.0, 0.1, 0.19, 0.31, 0.4])))
    >>> round(slope, 4), round(t, 2)
    (0.101, 40.13)
    """
    n = len(closes)
    if n < 3:
        return math.nan, math.nan
    y = np.log(closes)
    x_centered, sxx = _centered_time(n)
    y_centered = y - float(_sum(y)) / n  # y - y.mean()
    slope = float(x_centered @ y_centered) / sxx
    residuals = y_centered - slope * x_centered
    return slope, _t_statistic(slope, residuals, n, sxx)


def _t_statistic(slope: float, residuals: np.ndarray, n: int, sxx: float) -> float:
    sse = float(residuals @ residuals)
    if not sse > 0:
        return math.copysign(math.inf, slope) if slope else math.nan
    standard_error = math.sqrt(sse / (n - 2) / sxx)
    return slope / standard_error


class _Windows:
    """The price windows ending at each new row of one timeframe that has enough history.

    ``series(name)`` is the ring's held values followed by the new rows' values; the window of
    ``depth`` values ending at new row ``first + k`` starts at ``starts[k]`` in it.
    """

    def __init__(
        self, release: Release, timeframe: Timeframe, held: int, ring: PriceRing | None, first: int
    ) -> None:
        self.release = release
        self.timeframe = timeframe
        self.held = held
        self.ring = ring
        self.first = first
        positions = release.positions(timeframe)
        self.positions = positions[first:]
        self._series: dict[str, np.ndarray] = {}

    @classmethod
    def of(cls, release: Release, timeframe: Timeframe, depth: int) -> _Windows | None:
        view = release.view
        if depth > view.history:
            raise ValueError(f"a window of {depth} candles needs MarketView(history >= {depth})")
        ring = view.ring(timeframe)
        count = ring.count if ring is not None else 0
        held = min(count, ring.capacity) if ring is not None else 0
        first = max(0, depth - 1 - count)  # new rows before it lack a full window
        if first >= len(release.positions(timeframe)):
            return None
        return cls(release, timeframe, held, ring, first)

    def series(self, name: str) -> np.ndarray:
        values = self._series.get(name)
        if values is None:
            column = self.release.column(self.timeframe, name)
            new = column[self.release.held_count(self.timeframe) :]
            held = self.ring.last(name, self.held) if self.held else np.empty(0)
            values = self._series[name] = np.concatenate((held, new))
        return values

    def windows(self, values: np.ndarray, depth: int) -> np.ndarray:
        """Row k: the ``depth`` values of ``values`` ending at new row ``first + k`` (a copy)."""
        start = self.held + self.first - depth + 1
        return np.ascontiguousarray(
            sliding_window_view(values, depth)[start : start + len(self.positions)]
        )

    def rows(self) -> list[tuple[int, CandleRow]]:
        return [(p, self.release.rows[p]) for p in self.positions]


class _WindowedGenerator:
    """Shared plumbing: the window of closed candles of a timeframe, emission per close."""

    origin = "stat"

    def __init__(
        self,
        window: int,
        entry: float,
        scale: float,
        ceiling: float,
        expires_after: int,
        timeframes: Iterable[Timeframe],
    ) -> None:
        if window < 3:
            raise ValueError(f"window must be >= 3 candles, got {window}")
        if entry <= 0 or scale <= 0:
            raise ValueError(f"entry and scale must be > 0, got {entry}, {scale}")
        self.window = window
        self.entry = entry
        self.scale = scale
        self.ceiling = ceiling
        self.expires_after = expires_after
        self.timeframes = frozenset(timeframes)

    def required_features(self) -> set[str]:
        return set()

    def history_depth(self) -> int:
        """Candles of prices this generator reads back (the view's rings must hold as many)."""
        return self.window

    def _history(self, row: CandleRow, view: MarketView) -> PriceRing | None:
        if row.timeframe not in self.timeframes:
            return None
        return view.prices(row.timeframe, self.history_depth())

    def on_rows(self, release: Release) -> list[tuple[int, Signal]]:
        """The signals of a release's rows at once: each statistic computed for every row over
        the timeframe's price ring and the new prices (numpy, the same operations per window
        as :meth:`on_candle`, so the same values to the last bit)."""
        out: list[tuple[int, Signal]] = []
        for timeframe in release.timeframes():
            if timeframe not in self.timeframes:
                continue
            window = _Windows.of(release, timeframe, self.history_depth())
            if window is not None:
                out.extend(self._batch(release, window))
        return out

    def _batch(self, release: Release, window: _Windows) -> list[tuple[int, Signal]]:
        raise NotImplementedError

    def _signal(
        self, row: CandleRow, statistic: float, direction: Direction, meta: dict[str, float]
    ) -> list[Signal]:
        confidence = ramp_confidence(statistic, 0.0, self.scale, self.ceiling)
        return [build_signal(self.origin, row, direction, confidence, self.expires_after, meta)]


class ZScoreReversion(_WindowedGenerator):
    """Fade stretched prices: |z| ≥ entry over ``window`` closes → bet on the mean.

    >>> gen, view = ZScoreReversion(5, 1.5, 2.0, 0.6, 3, [Timeframe.H1]), MarketView()
    >>> out = []
    >>> for i, c in enumerate([10, 10.2, 9.9, 10.1, 12.0]):
    ...     row = CandleRow("X", Timeframe.H1, i * Timeframe.H1.ns, c, c, c, c, 1)
    ...     view.push(row)  # the engine pushes every closed row before the generators run
    ...     out = gen.on_candle(row, view)
    >>> out[0].direction.value, round(out[0].meta["z"], 3), round(out[0].confidence, 3)
    ('short', 1.984, 0.407)
    """

    origin = "stat:zscore_reversion"

    def on_candle(self, row: CandleRow, view: MarketView) -> list[Signal]:
        history = self._history(row, view)
        if history is None:
            return []
        z, mean = _z_and_mean(history.last("close", self.window))
        if not abs(z) >= self.entry:
            return []
        direction = Direction.SHORT if z > 0 else Direction.LONG
        return self._signal(row, z, direction, {"z": z, "mean": mean})

    def _batch(self, release: Release, window: _Windows) -> list[tuple[int, Signal]]:
        closes = window.windows(window.series("close"), self.window)
        means = closes.mean(axis=1)
        stds = closes.std(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            zs = np.where(stds > 0, (closes[:, -1] - means) / stds, math.nan)
        out = []
        for k in np.flatnonzero(np.abs(zs) >= self.entry).tolist():
            z = float(zs[k])
            position, row = window.positions[k], release.rows[window.positions[k]]
            direction = Direction.SHORT if z > 0 else Direction.LONG
            meta = {"z": z, "mean": float(means[k])}
            out.extend((position, s) for s in self._signal(row, z, direction, meta))
        return out


class VolatilityBreakout(_WindowedGenerator):
    """Follow an outsized move that also breaks the prior ``window``-candle range.

    Long when the close is above every high of the previous ``window`` candles and the candle's
    log return is at least ``entry`` standard deviations of the window's returns; short mirrored.
    """

    origin = "stat:volatility_breakout"

    def history_depth(self) -> int:
        return self.window + 1

    def on_candle(self, row: CandleRow, view: MarketView) -> list[Signal]:
        history = self._history(row, view)
        if history is None:
            return []
        depth = self.window + 1
        surprise = return_surprise(history.last("close", depth))
        if not abs(surprise) >= self.entry:
            return []
        range_high = max(history.last("high", depth)[:-1].tolist())
        range_low = min(history.last("low", depth)[:-1].tolist())
        if surprise > 0 and row.close > range_high:
            direction = Direction.LONG
        elif surprise < 0 and row.close < range_low:
            direction = Direction.SHORT
        else:
            return []
        meta = {"surprise": surprise, "range_high": range_high, "range_low": range_low}
        return self._signal(row, surprise, direction, meta)

    def _batch(self, release: Release, window: _Windows) -> list[tuple[int, Signal]]:
        depth = self.window + 1
        returns = np.diff(window.windows(np.log(window.series("close")), depth), axis=1)
        sigmas = np.ascontiguousarray(returns[:, :-1]).std(axis=1, ddof=1)
        highs = window.windows(window.series("high"), depth)[:, :-1].max(axis=1)
        lows = window.windows(window.series("low"), depth)[:, :-1].min(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            surprises = np.where(sigmas > 0, returns[:, -1] / sigmas, math.nan)
        out = []
        for k in np.flatnonzero(np.abs(surprises) >= self.entry).tolist():
            surprise = float(surprises[k])
            position = window.positions[k]
            row = release.rows[position]
            range_high, range_low = float(highs[k]), float(lows[k])
            if surprise > 0 and row.close > range_high:
                direction = Direction.LONG
            elif surprise < 0 and row.close < range_low:
                direction = Direction.SHORT
            else:
                continue
            meta = {"surprise": surprise, "range_high": range_high, "range_low": range_low}
            out.extend((position, s) for s in self._signal(row, surprise, direction, meta))
        return out


class TrendStrength(_WindowedGenerator):
    """Follow a trend whose regression slope over ``window`` closes is significant (|t| ≥ entry).

    OLS on log prices: residuals of prices are autocorrelated, so the t-statistic overstates
    significance; ``entry`` and ``scale`` are set accordingly high by default.
    """

    origin = "stat:trend_strength"

    def on_candle(self, row: CandleRow, view: MarketView) -> list[Signal]:
        history = self._history(row, view)
        if history is None:
            return []
        slope, t = slope_t_statistic(history.last("close", self.window))
        if not abs(t) >= self.entry or math.isinf(t):
            return []
        direction = Direction.LONG if t > 0 else Direction.SHORT
        return self._signal(row, t, direction, {"slope": slope, "t": t})

    def _batch(self, release: Release, window: _Windows) -> list[tuple[int, Signal]]:
        n = self.window
        logs = window.windows(np.log(window.series("close")), n)
        x_centered = np.arange(n, dtype=np.float64)
        x_centered = x_centered - x_centered.mean()
        sxx = float(x_centered @ x_centered)
        centered = logs - logs.mean(axis=1, keepdims=True)
        # the dot products row by row: BLAS sums a long matrix product in another order
        slopes = np.array([float(x_centered @ row) for row in centered]) / sxx
        residuals = centered - slopes[:, None] * x_centered
        sse = np.array([float(residual @ residual) for residual in residuals])
        with np.errstate(divide="ignore", invalid="ignore"):
            ts = slopes / np.sqrt(sse / (n - 2) / sxx)
        # sse 0: an infinite or undefined t, never a signal (as _t_statistic)
        out = []
        for k in np.flatnonzero((np.abs(ts) >= self.entry) & (sse > 0) & np.isfinite(ts)).tolist():
            slope, t = float(slopes[k]), float(ts[k])
            position = window.positions[k]
            meta = {"slope": slope, "t": t}
            row = release.rows[position]
            direction = Direction.LONG if t > 0 else Direction.SHORT
            out.extend((position, s) for s in self._signal(row, t, direction, meta))
        return out
