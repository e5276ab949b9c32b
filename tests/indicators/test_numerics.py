"""Rolling sums that do not drift: long runs and collapses in level or spread."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from operators.indicators import SMA, Bollinger, ZScore
from operators.indicators._rolling import RollingMoments, RollingSum


def exact_mean(window: np.ndarray) -> float:
    return float(sum(Fraction(v) for v in window.tolist()) / len(window))


def test_sma_and_bands_do_not_drift_over_a_long_fractional_walk() -> None:
    """150,000 steps of a random walk at ~30,000 with fractional prices (no exact sums)."""
    rng = np.random.default_rng(7)
    close = 30_000.0 + np.cumsum(rng.normal(0.0, 3.0, 150_000)) + rng.random(150_000) / 7
    sma = SMA(20).update_many(close)
    bands = Bollinger(20, 2.0).update_many(close)
    windows = sliding_window_view(close, 20)
    mean = np.sort(windows, axis=1).sum(axis=1) / 20  # sorted sums: tight reference
    std = windows.std(axis=1)
    np.testing.assert_allclose(sma[19:], mean, rtol=2e-15)
    np.testing.assert_allclose(bands[19:, 1], mean, rtol=2e-15)
    np.testing.assert_allclose(bands[19:, 0] - bands[19:, 1], 2 * std, rtol=1e-9)
    for i in (19, 75_000, 149_999):  # spot checks in exact arithmetic
        assert abs(sma[i] - exact_mean(close[i - 19 : i + 1])) <= 2e-15 * sma[i]


def test_sum_recovers_when_a_huge_level_leaves_the_window() -> None:
    """A 1e12 spike then prices near 1: the spike's rounding error must not stay behind."""
    data = np.concatenate([np.full(7, 1.1), np.full(13, 1e12 + 0.3), 1.0 + np.arange(60) / 3])
    for size in (3, 8, 20):
        window = RollingSum(size)
        sma = SMA(size).update_many(data)
        for i, x in enumerate(data.tolist()):
            window.push(x)
            if i >= size - 1:
                exact = exact_mean(data[i - size + 1 : i + 1])
                assert abs(window.total / size - exact) <= 1e-15 * abs(exact), (size, i)
                assert abs(sma[i] - exact) <= 1e-15 * abs(exact), (size, i)


def exact_variance(window: np.ndarray) -> float:
    values = [Fraction(v) for v in window.tolist()]
    mean = sum(values) / len(values)
    return float(sum((v - mean) ** 2 for v in values) / len(values))


def test_moments_recover_when_the_spread_collapses() -> None:
    """Wild swings then a nearly flat stretch: the variance of each quiet window stays exact.

    Checked at every step, so also between the regular resyncs (size 7 does not divide 20).
    """
    quiet = 50_000.0 + np.arange(40) * 2.0**-20
    data = np.concatenate([50_000.0 + np.array([1e6, 2e6, 3e6, 4e6] * 5), quiet])
    window = RollingMoments(7)
    z = ZScore(7).update_many(data)
    for i, x in enumerate(data.tolist()):
        window.push(x)
        if i >= 26:  # the window holds quiet values only
            tail = data[i - 6 : i + 1]
            exact = exact_variance(tail)
            assert abs(window.variance(0) - exact) <= 1e-12 * exact, i
            expected_z = (tail[-1] - exact_mean(tail)) / exact**0.5
            assert abs(z[i] - expected_z) <= 1e-9, i


def test_flat_window_after_a_burst_is_exactly_flat() -> None:
    data = [1e9, -1e9, 3.0, 7.0, 1e-9, 2.5] + [0.3] * 12
    zscores = ZScore(5).update_many(data)
    bands = Bollinger(5).update_many(data)
    window = RollingMoments(5)
    for i, x in enumerate(data):
        window.push(x)
        if i >= 10:  # five 0.3 in the window, also between the resyncs at every 5th push
            assert window.variance(0) == 0.0 and window.mean == 0.3, i
            assert zscores[i] == 0.0, i
            assert bands[i].tolist() == [0.3, 0.3, 0.3], i
