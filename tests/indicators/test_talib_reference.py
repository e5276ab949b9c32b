"""Every TA-Lib-equivalent indicator against TA-Lib itself on all the shipped real candles.

The series: the BTC perpetual month (45,031 one-minute candles) and the ten BTC-quoted pairs
(five-minute candles, prices down to 3e-5). NaN must sit exactly where TA-Lib has NaN, and the
values must agree to 1e-9 relative.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import talib

from operators.indicators import ATR, EMA, MACD, RSI, SMA, Bollinger


@pytest.mark.parametrize("period", [20, 50])
def test_sma_matches_talib(all_series, like_reference: Callable[..., None], period: int) -> None:
    for name, s in all_series.items():
        ours = SMA(period).update_many(s["close"])
        like_reference(ours, talib.SMA(s["close"], period), warmup=period, label=name)


@pytest.mark.parametrize("period", [12, 20, 26, 50])
def test_ema_matches_talib(all_series, like_reference: Callable[..., None], period: int) -> None:
    for name, s in all_series.items():
        ours = EMA(period).update_many(s["close"])
        like_reference(ours, talib.EMA(s["close"], period), warmup=period, label=name)


def test_rsi_matches_talib(all_series, like_reference: Callable[..., None]) -> None:
    for name, s in all_series.items():
        ours = RSI(14).update_many(s["close"])
        like_reference(ours, talib.RSI(s["close"], 14), warmup=15, label=name)


def test_atr_matches_talib(all_series, like_reference: Callable[..., None]) -> None:
    for name, s in all_series.items():
        ours = ATR(14).update_many(s["high"], s["low"], s["close"])
        reference = talib.ATR(s["high"], s["low"], s["close"], 14)
        like_reference(ours, reference, warmup=15, label=name)


def test_macd_matches_talib(all_series, like_reference: Callable[..., None]) -> None:
    for name, s in all_series.items():
        close = s["close"]
        ours = MACD(12, 26, 9).update_many(close)
        reference = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
        # The three outputs are differences of prices and cross zero: tolerance on their scale.
        atol = 1e-12 * float(np.max(close))
        for column, (label, expected) in enumerate(
            zip(("macd", "signal", "hist"), reference, strict=True)
        ):
            like_reference(ours[:, column], expected, warmup=34, atol=atol, label=f"{name} {label}")


def test_bollinger_matches_talib(all_series, like_reference: Callable[..., None]) -> None:
    for name, s in all_series.items():
        ours = Bollinger(20, 2.0).update_many(s["close"])
        reference = talib.BBANDS(s["close"], timeperiod=20, nbdevup=2, nbdevdn=2, matype=0)
        for column, (label, expected) in enumerate(
            zip(("upper", "middle", "lower"), reference, strict=True)
        ):
            like_reference(ours[:, column], expected, warmup=20, label=f"{name} {label}")


@pytest.mark.parametrize("period", [1, 2, 7, 200])
def test_other_periods_match_talib(btc, like_reference: Callable[..., None], period: int) -> None:
    h, lo, c = btc["high"], btc["low"], btc["close"]
    like_reference(
        ATR(period).update_many(h, lo, c), talib.ATR(h, lo, c, period), warmup=period + 1
    )
    if period >= 2:  # TA-Lib's SMA/EMA/RSI/BBANDS accept periods from 2
        like_reference(RSI(period).update_many(c), talib.RSI(c, period), warmup=period + 1)
        like_reference(SMA(period).update_many(c), talib.SMA(c, period), warmup=period)
        like_reference(EMA(period).update_many(c), talib.EMA(c, period), warmup=period)
        ours = Bollinger(period, 1.5).update_many(c)
        for column, expected in enumerate(talib.BBANDS(c, period, 1.5, 1.5, 0)):
            like_reference(ours[:, column], expected, warmup=period)


def test_atr_of_period_one_is_talib_true_range(btc) -> None:
    h, lo, c = btc["high"], btc["low"], btc["close"]
    ours = ATR(1).update_many(h, lo, c)
    np.testing.assert_array_equal(ours, talib.TRANGE(h, lo, c))


def test_macd_other_periods_match_talib(btc, like_reference: Callable[..., None]) -> None:
    close = btc["close"]
    ours = MACD(5, 35, 5).update_many(close)
    reference = talib.MACD(close, fastperiod=5, slowperiod=35, signalperiod=5)
    for column, expected in enumerate(reference):
        like_reference(ours[:, column], expected, warmup=39, atol=1e-12 * float(close.max()))


def test_macd_fast_ema_is_aligned_with_the_slow_one_as_in_talib(btc) -> None:
    """TA-Lib seeds MACD's fast EMA where the slow one starts, not at its own period.

    A MACD line from two stand-alone EMAs differs at first and converges later; ours follows
    TA-Lib from the first value.
    """
    close = btc["close"]
    line = MACD(12, 26, 9).update_many(close)[:, 0]
    naive = EMA(12).update_many(close) - EMA(26).update_many(close)
    reference = talib.MACD(close, 12, 26, 9)[0]
    np.testing.assert_allclose(line[33:40], reference[33:40], rtol=1e-12)
    assert np.all(np.abs(naive[33:40] - reference[33:40]) > 1e-6)
    np.testing.assert_allclose(naive[1000:], reference[1000:], rtol=1e-9, atol=1e-6)
