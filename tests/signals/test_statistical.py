"""Statistical generators against independent references on the real BTC perpetual month."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from operators.signals.confidence import normal_cdf, ramp_confidence
from operators.signals.market_view import CandleRow, MarketView, rows_of
from operators.signals.statistical import (
    TrendStrength,
    VolatilityBreakout,
    ZScoreReversion,
    _t_statistic,
    mean_std,
    return_surprise,
    slope_t_statistic,
    zscore,
)
from schemas.common import Direction, Timeframe


def run(generator, rows):
    view, out = MarketView(), []
    for row in rows:
        view.push(row)
        out.extend(generator.on_candle(row, view))
    return out


prices = arrays(
    np.float64, st.integers(3, 300), elements=st.floats(1.0, 1e6, allow_subnormal=False)
)


@settings(max_examples=300, deadline=None)
@given(prices, st.integers(0, 1))
def test_mean_std_is_numpys_to_the_last_bit(values, ddof):
    assert mean_std(values, ddof) == (float(values.mean()), float(values.std(ddof=ddof)))


@settings(max_examples=300, deadline=None)
@given(prices)
def test_the_statistics_are_numpys_formulas_to_the_last_bit(closes):
    # the formulas as numpy's methods spell them (what the batch path computes per window)
    std = float(closes.std())
    z = float((closes[-1] - closes.mean()) / std) if std > 0 else math.nan
    returns = np.diff(np.log(closes))
    sigma = float(returns[:-1].std(ddof=1)) if len(returns) >= 3 else math.nan
    surprise = float(returns[-1] / sigma) if sigma > 0 else math.nan
    n, y = len(closes), np.log(closes)
    x_centered = np.arange(n, dtype=np.float64) - np.arange(n, dtype=np.float64).mean()
    sxx = float(x_centered @ x_centered)
    slope = float(x_centered @ (y - y.mean())) / sxx
    t = _t_statistic(slope, y - y.mean() - slope * x_centered, n, sxx)
    same = lambda a, b: a == b or (math.isnan(a) and math.isnan(b))  # noqa: E731
    assert same(zscore(closes), z)
    assert same(return_surprise(closes), surprise)
    got_slope, got_t = slope_t_statistic(closes)
    assert got_slope == slope and same(got_t, t)


def test_zscore_matches_polars_rolling(month_features):
    closes = month_features[Timeframe.H1].candles.close
    frame = pl.DataFrame({"c": closes})
    reference = frame.select(
        (pl.col("c") - pl.col("c").rolling_mean(20)) / pl.col("c").rolling_std(20, ddof=0)
    ).to_series()
    for i in range(19, len(closes), 37):
        assert zscore(closes[i - 19 : i + 1]) == pytest.approx(reference[i], rel=1e-9)


def test_slope_t_matches_scipy_linregress(month_features):
    closes = month_features[Timeframe.M15].candles.close
    for end in range(30, len(closes), 101):
        window = closes[end - 30 : end]
        fit = stats.linregress(np.arange(30), np.log(window))
        slope, t = slope_t_statistic(window)
        assert slope == pytest.approx(fit.slope, rel=1e-9)
        assert t == pytest.approx(fit.slope / fit.stderr, rel=1e-7)


def test_return_surprise_by_hand():
    closes = np.array([100.0, 101.0, 100.0, 101.0, 100.0, 104.0])
    returns = np.diff(np.log(closes))
    expected = returns[-1] / np.std(returns[:-1], ddof=1)
    assert return_surprise(closes) == pytest.approx(expected)
    assert math.isnan(return_surprise(np.array([1.0, 1.0, 1.0, 1.0])))


def test_zscore_generator_signals_equal_the_reference(month_features):
    batch = month_features[Timeframe.H1]
    generator = ZScoreReversion(20, 2.0, 2.0, 0.5, 4, [Timeframe.H1])
    signals = run(generator, rows_of(batch))
    closes = batch.candles.close
    expected = []
    for i in range(19, len(closes)):
        z = zscore(closes[i - 19 : i + 1])
        if abs(z) >= 2.0:
            expected.append((i, Direction.SHORT if z > 0 else Direction.LONG, z))
    assert len(signals) == len(expected) > 10
    for signal, (i, direction, z) in zip(signals, expected, strict=True):
        close_ns = int(batch.candles.ts_ns[i]) + Timeframe.H1.ns
        assert signal.timestamp.timestamp() * 1e9 == pytest.approx(close_ns)
        assert signal.direction is direction
        assert signal.meta["z"] == pytest.approx(z)
        assert signal.confidence == pytest.approx(0.5 * (2 * normal_cdf(abs(z) / 2.0) - 1))
        assert (signal.expires_at - signal.timestamp).total_seconds() == 4 * 3600


def test_confidence_grows_with_the_statistic():
    values = [ramp_confidence(s, 0.0, 2.0, 0.6) for s in (2.0, 2.5, 3.0, 5.0, 50.0)]
    assert values == sorted(values) and values[-1] == pytest.approx(0.6)
    assert ramp_confidence(2.0, 0.0, 2.0, 0.6) == pytest.approx(0.6 * 0.682689, rel=1e-5)


def test_breakout_needs_range_break_and_surprise():
    h = Timeframe.H1.ns

    def row(i, close, high=None, low=None):
        return CandleRow("X", Timeframe.H1, i * h, close, high or close, low or close, close, 1)

    calm = [row(i, 100 + (0.5 if i % 2 else -0.5), 101, 99) for i in range(6)]
    generator = VolatilityBreakout(5, 2.5, 3.0, 0.5, 2, [Timeframe.H1])
    assert run(generator, calm) == []
    # a jump that clears the 5-candle high of 101 with a large return → long
    (signal,) = run(VolatilityBreakout(5, 2.5, 3.0, 0.5, 2, [Timeframe.H1]), [*calm, row(6, 104)])
    assert signal.direction is Direction.LONG and signal.meta["range_high"] == 101
    # the same return size without clearing the range (a prior high of 110) → nothing
    spiky = [*calm[:-1], row(5, 100.5, 110, 99), row(6, 104)]
    assert run(VolatilityBreakout(5, 2.5, 3.0, 0.5, 2, [Timeframe.H1]), spiky) == []


def test_trend_strength_direction_and_other_timeframes_ignored():
    h = Timeframe.H4.ns
    rising = [
        CandleRow(
            "X", Timeframe.H4, i * h, 0, 0, 0, 100 * math.exp(0.01 * i + 0.001 * (-1) ** i), 1
        )
        for i in range(12)
    ]
    generator = TrendStrength(10, 8.0, 8.0, 0.5, 3, [Timeframe.H4])
    signals = run(generator, rising)
    assert signals and all(s.direction is Direction.LONG for s in signals)
    assert all(s.meta["t"] >= 8.0 for s in signals)
    assert run(TrendStrength(10, 8.0, 8.0, 0.5, 3, [Timeframe.H1]), rising) == []
