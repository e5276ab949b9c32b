"""Properties over random data (hypothesis)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.indicators import RSI, SMA, Bollinger, ZScore
from operators.indicators._rolling import RollingMoments

prices = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
price_lists = st.lists(prices, min_size=1, max_size=120)
periods = st.integers(min_value=1, max_value=30)


@given(data=price_lists, period=periods)
def test_sma_is_the_mean_of_the_window(data: list[float], period: int) -> None:
    out = SMA(period).update_many(data)
    for i, value in enumerate(out):
        if i < period - 1:
            assert math.isnan(value)
        else:
            window = data[i - period + 1 : i + 1]
            assert math.isclose(value, float(np.mean(window)), rel_tol=1e-12)
            assert math.isclose(value, math.fsum(window) / period, rel_tol=1e-13)


@given(data=price_lists, period=periods)
def test_rsi_stays_within_0_and_100(data: list[float], period: int) -> None:
    out = RSI(period).update_many(data)
    valid = out[~np.isnan(out)]
    assert len(valid) == max(0, len(data) - period)
    assert np.all((valid >= 0.0) & (valid <= 100.0))


@given(data=price_lists, period=periods)
def test_bollinger_bands_are_ordered_around_the_sma(data: list[float], period: int) -> None:
    bands = Bollinger(period, 2.0).update_many(data)
    sma = SMA(period).update_many(data)
    valid = ~np.isnan(sma)
    upper, middle, lower = bands[valid].T
    assert np.all(upper >= middle) and np.all(middle >= lower)
    np.testing.assert_allclose(middle, sma[valid], rtol=1e-12)


@given(data=price_lists, period=st.integers(min_value=2, max_value=30))
def test_zscore_is_bounded_by_sqrt_of_period_minus_one(data: list[float], period: int) -> None:
    """|x − mean| / std ≤ √(n − 1) for any window of n values containing x."""
    z = ZScore(period).update_many(data)
    valid = z[~np.isnan(z)]
    assert np.all(np.abs(valid) <= math.sqrt(period - 1) * (1 + 1e-9))


def exact_variance(window: list[float]) -> float:
    """Population variance in exact rational arithmetic, rounded once."""
    values = [Fraction(v) for v in window]
    mean = sum(values) / len(values)
    return float(sum((v - mean) ** 2 for v in values) / len(values))


bursty = st.lists(
    st.one_of(prices, st.sampled_from([1.0, 1.0 + 2**-40, 5e8])), min_size=1, max_size=150
)


@settings(max_examples=300)
@given(data=bursty, size=st.integers(min_value=2, max_value=12))
def test_rolling_variance_stays_accurate_after_bursts(data: list[float], size: int) -> None:
    """Quiet or flat windows right after huge values: the resync guard keeps the variance."""
    window = RollingMoments(size)
    for i, x in enumerate(data):
        window.push(x)
        if window.full:
            exact = exact_variance(data[i - size + 1 : i + 1])
            got = window.variance(0)
            if exact == 0.0:
                assert got == 0.0
            else:
                assert math.isclose(got, exact, rel_tol=1e-8), (got, exact)
