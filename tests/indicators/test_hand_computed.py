"""Small cases worked out by hand: every number here can be checked on paper."""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib

from operators.indicators import ATR, EMA, MACD, RSI, SMA, VWAP, Bollinger, Volatility, ZScore
from operators.indicators.rsi import FLAT_RSI
from operators.indicators.vwap import NS_PER_DAY

NAN = math.nan
MINUTE = 60_000_000_000


def same(actual: list[float], expected: list[float]) -> bool:
    return np.allclose(actual, expected, rtol=1e-15, atol=0.0, equal_nan=True)


def test_sma() -> None:
    sma = SMA(3)
    assert same([sma.update(x) for x in (1, 2, 3, 4, 8)], [NAN, NAN, 2.0, 3.0, 5.0])
    assert sma.value == 5.0 and sma.ready and sma.warmup == 3


def test_ema_seeds_with_the_sma_then_smooths() -> None:
    ema = EMA(3)  # k = 2 / 4 = 0.5; seed = (1 + 2 + 3) / 3 = 2
    # 5 → (5 − 2)·0.5 + 2 = 3.5; 1 → (1 − 3.5)·0.5 + 3.5 = 2.25
    assert same([ema.update(x) for x in (1, 2, 3, 5, 1)], [NAN, NAN, 2.0, 3.5, 2.25])
    assert EMA(4).k == 0.4


def test_rsi_wilder() -> None:
    rsi = RSI(2)
    # changes +1, −0.5: gain 0.5, loss 0.25 → 100·0.5/0.75 = 200/3
    # change +1: gain (0.5·1 + 1)/2 = 0.75, loss 0.25/2 = 0.125 → 100·0.75/0.875 = 600/7
    out = [rsi.update(x) for x in (10, 11, 10.5, 11.5)]
    assert same(out, [NAN, NAN, 200 / 3, 600 / 7])


def test_rsi_extremes() -> None:
    assert RSI(3).update_many([1, 2, 3, 4, 5]).tolist()[3:] == [100.0, 100.0]
    assert RSI(3).update_many([5, 4, 3, 2, 1]).tolist()[3:] == [0.0, 0.0]


def test_rsi_of_a_flat_market_is_neutral_where_talib_says_zero() -> None:
    """The one documented difference from TA-Lib: no movement at all reads 50, not 0."""
    flat = np.full(20, 7.0)
    ours = RSI(14).update_many(flat)
    theirs = talib.RSI(flat, 14)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    assert np.all(ours[14:] == FLAT_RSI) and FLAT_RSI == 50.0
    assert np.all(theirs[14:] == 0.0)
    # once it moves, both agree again
    moved = np.concatenate([flat, [8.0, 7.5]])
    np.testing.assert_allclose(RSI(14).update_many(moved)[-2:], talib.RSI(moved, 14)[-2:])


def test_atr() -> None:
    atr = ATR(2)
    candles = [(10, 8, 9), (11, 9, 10), (12, 10, 11), (11, 7, 8), (9, 8, 8.5)]
    # TR from candle 2: max(2, |9−11|, |9−9|) = 2; candle 3: 2 → seed ATR = 2
    # candle 4: max(4, |11−11|, |7−11|) = 4 → (2·1 + 4)/2 = 3
    # candle 5: max(1, |8−9|, |8−8|) = 1 → (3·1 + 1)/2 = 2
    assert same([atr.update(*c) for c in candles], [NAN, NAN, 2.0, 3.0, 2.0])


@pytest.mark.parametrize(
    ("high", "low", "prev_close", "expected"),
    [(12.0, 11.0, 11.5, 1.0), (12.0, 11.0, 9.0, 3.0), (12.0, 11.0, 15.0, 4.0)],
)
def test_true_range_covers_gaps(
    high: float, low: float, prev_close: float, expected: float
) -> None:
    atr = ATR(1)
    atr.update(prev_close, prev_close, prev_close)
    assert atr.update(high, low, 0.5 * (high + low)) == expected


def test_macd() -> None:
    m = MACD(2, 3, 2)  # k_fast = 2/3, k_slow = 1/2, k_signal = 2/3
    out = [m.update(x) for x in (1, 2, 3, 4, 2)]
    assert all(math.isnan(v) for row in out[:3] for v in row)
    # after 1, 2, 3: slow = 2, fast = (2 + 3)/2 = 2.5 → line 0.5 (first of the signal seed)
    # 4: fast = (4 − 2.5)·2/3 + 2.5 = 3.5, slow = (4 − 2)/2 + 2 = 3 → line 0.5; signal 0.5
    assert same(list(out[3]), [0.5, 0.5, 0.0])
    # 2: fast = (2 − 3.5)·2/3 + 3.5 = 2.5, slow = (2 − 3)/2 + 3 = 2.5 → line 0
    #    signal = (0 − 0.5)·2/3 + 0.5 = 1/6, hist = −1/6
    assert same(list(out[4]), [0.0, 1 / 6, -1 / 6])
    assert m.warmup == 4


def test_bollinger_uses_population_std() -> None:
    bb = Bollinger(4, 2.0)
    out = [bb.update(x) for x in (2, 4, 4, 4)]
    # mean 3.5; deviations −1.5, .5, .5, .5 → variance 3/4, std √3/2 → width √3
    assert same(list(out[-1]), [3.5 + math.sqrt(3), 3.5, 3.5 - math.sqrt(3)])
    assert all(math.isnan(v) for v in out[0])


def test_bollinger_of_a_flat_series_collapses_exactly() -> None:
    bb = Bollinger(20, 2.0)
    out = bb.update_many(np.full(30, 0.1))
    assert np.all(out[19:] == 0.1)


def test_volatility_is_sample_std_of_log_returns() -> None:
    vol = Volatility(2)
    out = [vol.update(x) for x in (100.0, 110.0, 99.0, 108.9)]
    # returns ln 1.1, ln 0.9, ln 1.1: std (ddof=1) of two values = |a − b| / √2
    expected = abs(math.log(1.1) - math.log(0.9)) / math.sqrt(2)
    assert math.isnan(out[0]) and math.isnan(out[1])
    assert out[2] == pytest.approx(expected, rel=1e-14)
    assert out[3] == pytest.approx(expected, rel=1e-14)
    assert Volatility(5).update_many(np.full(10, 3.0))[5:].tolist() == [0.0] * 5


def test_zscore_uses_population_std() -> None:
    z = ZScore(4)
    out = [z.update(x) for x in (2, 4, 4, 4, 5)]
    # window 2,4,4,4: (4 − 3.5)/(√3/2) = 1/√3; window 4,4,4,5: mean 4.25, std √3/4 → √3
    assert same(out, [NAN, NAN, NAN, 1 / math.sqrt(3), math.sqrt(3)])


def test_zscore_of_a_flat_window_is_zero() -> None:
    assert ZScore(3).update_many([0.1, 0.1, 0.1, 0.1]).tolist()[2:] == [0.0, 0.0]


def test_zscore_measures_the_close_in_bollinger_half_widths() -> None:
    data = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    bb = Bollinger(5, 2.0).update_many(data)
    z = ZScore(5).update_many(data)
    # same window, same population std: z = (close − middle) / (width / num_std)
    width = (bb[:, 0] - bb[:, 1]) / 2.0
    np.testing.assert_allclose((np.array(data) - bb[:, 1])[4:] / width[4:], z[4:], rtol=1e-12)


def test_vwap_within_a_session_and_across_midnight() -> None:
    v = VWAP()
    day = 19_000 * NS_PER_DAY
    assert v.update(11, 9, 10, 1, day) == 10.0  # typical 10
    assert v.update(14, 12, 13, 3, day + MINUTE) == 12.25  # (10·1 + 13·3) / 4
    assert v.update(15, 15, 15, 0, day + 2 * MINUTE) == 12.25  # no volume: unchanged
    assert v.update(21, 19, 20, 2, day + NS_PER_DAY) == 20.0  # next UTC day


def test_vwap_with_no_volume_yet_is_the_typical_price() -> None:
    v = VWAP()
    day = 19_000 * NS_PER_DAY
    assert v.update(12, 6, 9, 0, day) == 9.0  # nothing traded: (12 + 6 + 9) / 3
    assert v.update(13, 7, 10, 0, day + MINUTE) == 10.0  # still nothing: the latest typical
    assert v.update(20, 20, 20, 1, day + 2 * MINUTE) == 20.0  # first volume: only it counts
