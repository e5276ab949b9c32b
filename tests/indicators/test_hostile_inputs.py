"""Bad inputs: a ValueError naming the input and its value, and the state left untouched."""

from __future__ import annotations

import math
import pickle
import re

import numpy as np
import pytest

from operators.indicators import (
    ATR,
    EMA,
    MACD,
    RSI,
    SMA,
    VWAP,
    Bollinger,
    IndicatorBank,
    Volatility,
    ZScore,
)
from schemas.batches import CandleBatch
from schemas.common import Timeframe

MINUTE = 60_000_000_000
BAD_NUMBERS = [math.nan, math.inf, -math.inf, None, "12.5x", np.float64("nan")]


def warmed(indicator, steps: int = 40):
    """The indicator after ``steps`` good inputs (so a bad one would disturb real state)."""
    for i in range(steps):
        price = 100.0 + (i % 7) - (i % 3)
        if isinstance(indicator, ATR):
            indicator.update(price + 1, price - 1, price)
        elif isinstance(indicator, VWAP):
            indicator.update(price + 1, price - 1, price, 2.0, i * MINUTE)
        else:
            indicator.update(price)
    return indicator


SERIES = [
    pytest.param(lambda: SMA(5), id="sma"),
    pytest.param(lambda: EMA(5), id="ema"),
    pytest.param(lambda: RSI(5), id="rsi"),
    pytest.param(lambda: MACD(3, 6, 2), id="macd"),
    pytest.param(lambda: Bollinger(5, 2.0), id="bollinger"),
    pytest.param(lambda: Volatility(5), id="volatility"),
    pytest.param(lambda: ZScore(5), id="zscore"),
]


@pytest.mark.parametrize("bad", BAD_NUMBERS, ids=repr)
@pytest.mark.parametrize("make", SERIES)
def test_series_indicators_reject_non_finite_input_and_keep_state(make, bad: object) -> None:
    indicator = warmed(make())
    before = pickle.dumps(indicator)
    with pytest.raises(ValueError, match=r"(value|close) must be a finite number, got"):
        indicator.update(bad)
    assert pickle.dumps(indicator) == before


@pytest.mark.parametrize("make", SERIES)
def test_series_update_many_names_the_bad_row_and_consumes_nothing(make) -> None:
    indicator = warmed(make())
    before = pickle.dumps(indicator)
    with pytest.raises(ValueError, match=re.escape("[3] must be a finite number, got inf")):
        indicator.update_many([101.0, 102.0, 103.0, math.inf, 104.0])
    with pytest.raises(ValueError, match="one-dimensional"):
        indicator.update_many(np.ones((2, 2)))
    assert pickle.dumps(indicator) == before


@pytest.mark.parametrize("field", ["high", "low", "close"])
@pytest.mark.parametrize("bad", BAD_NUMBERS, ids=repr)
def test_atr_names_the_bad_field(field: str, bad: object) -> None:
    atr = warmed(ATR(5))
    before = pickle.dumps(atr)
    candle = {"high": 101.0, "low": 99.0, "close": 100.0, field: bad}
    with pytest.raises(ValueError, match=rf"ATR\(5\): {field} must be a finite number"):
        atr.update(**candle)
    columns = {"high": [101.0, 101.0], "low": [99.0, 99.0], "close": [100.0, 100.0]}
    columns[field] = [100.0, math.nan]
    with pytest.raises(ValueError, match=rf"ATR\(5\): {field}\[1\] must be a finite number"):
        atr.update_many(**columns)
    with pytest.raises(ValueError, match="columns differ in length: high=2, low=1, close=2"):
        atr.update_many([1.0, 2.0], [1.0], [1.0, 2.0])
    assert pickle.dumps(atr) == before


@pytest.mark.parametrize("field", ["high", "low", "close", "volume"])
def test_vwap_names_the_bad_field(field: str) -> None:
    vwap = warmed(VWAP())
    before = pickle.dumps(vwap)
    candle = {"high": 101.0, "low": 99.0, "close": 100.0, "volume": 1.0, "ts_ns": 100 * MINUTE}
    with pytest.raises(ValueError, match=rf"VWAP\(\): {field} must be a finite number, got nan"):
        vwap.update(**(candle | {field: math.nan}))
    assert pickle.dumps(vwap) == before


def test_vwap_rejects_negative_volume_and_time_going_back() -> None:
    vwap = warmed(VWAP())  # last ts: 39 minutes
    before = pickle.dumps(vwap)
    with pytest.raises(ValueError, match=r"volume must be >= 0, got -1\.0"):
        vwap.update(101, 99, 100, -1.0, 50 * MINUTE)
    with pytest.raises(ValueError, match="ts_ns must increase"):
        vwap.update(101, 99, 100, 1.0, 39 * MINUTE)
    with pytest.raises(ValueError, match="ts_ns must be an integer"):
        vwap.update(101, 99, 100, 1.0, "soon")
    with pytest.raises(ValueError, match=r"volume\[1\] must be >= 0"):
        vwap.update_many([1, 1], [1, 1], [1, 1], [1, -2], [50 * MINUTE, 51 * MINUTE])
    with pytest.raises(ValueError, match=r"ts_ns\[2\] must increase"):
        vwap.update_many(
            [1] * 3, [1] * 3, [1] * 3, [1] * 3, [50 * MINUTE, 51 * MINUTE, 51 * MINUTE]
        )
    assert pickle.dumps(vwap) == before


def test_vwap_zero_volume_all_day_never_divides_by_zero() -> None:
    n = 1440
    price = np.linspace(10.0, 20.0, n)
    out = VWAP().update_many(price + 1, price - 1, price, np.zeros(n), np.arange(n) * MINUTE)
    np.testing.assert_allclose(out, price, rtol=1e-15)


@pytest.mark.parametrize("bad", [0.0, -5.0])
def test_volatility_needs_positive_closes(bad: float) -> None:
    vol = warmed(Volatility(5))
    before = pickle.dumps(vol)
    with pytest.raises(ValueError, match="close must be > 0"):
        vol.update(bad)
    with pytest.raises(ValueError, match=r"close\[1\] must be > 0"):
        vol.update_many([1.0, bad])
    assert pickle.dumps(vol) == before


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SMA(0), r"SMA: period must be an integer >= 1, got 0"),
        (lambda: EMA(-3), r"EMA: period must be an integer >= 1"),
        (lambda: RSI(2.5), r"RSI: period must be an integer >= 1, got 2\.5"),
        (lambda: ATR(True), r"ATR: period must be an integer >= 1, got True"),
        (lambda: Volatility(1), r"Volatility: period must be an integer >= 2"),
        (lambda: ZScore(1), r"ZScore: period must be an integer >= 2"),
        (lambda: MACD(26, 12, 9), r"fast period must be < slow period"),
        (lambda: Bollinger(20, math.nan), r"Bollinger: num_std must be a finite number"),
    ],
)
def test_bad_parameters_are_rejected(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


GOOD = {"open": 100.0, "high": 101.0, "low": 99.0, "close": 100.5, "volume": 3.0}


def warmed_bank() -> IndicatorBank:
    bank = IndicatorBank()
    for i in range(60):
        bank.update(**{k: v + (i % 5) for k, v in GOOD.items()}, ts_ns=i * MINUTE)
    return bank


@pytest.mark.parametrize("field", list(GOOD))
@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, "x"], ids=repr)
def test_bank_rejects_a_bad_candle_whole(field: str, bad: object) -> None:
    bank = warmed_bank()
    before = pickle.dumps(bank)
    with pytest.raises(ValueError, match=rf"IndicatorBank\(.*\): {field} must be"):
        bank.update(**(GOOD | {field: bad}), ts_ns=1000 * MINUTE)
    assert pickle.dumps(bank) == before


def test_bank_rejects_zero_prices_but_accepts_zero_volume() -> None:
    bank = warmed_bank()
    with pytest.raises(ValueError, match=r"close must be finite and > 0, got 0\.0"):
        bank.update(**(GOOD | {"close": 0.0}), ts_ns=1000 * MINUTE)
    values = bank.update(**(GOOD | {"volume": 0.0}), ts_ns=1000 * MINUTE)
    assert not any(math.isnan(v) for v in values)


def test_bank_rejects_time_going_back_or_repeating() -> None:
    bank = warmed_bank()  # last candle at 59 minutes
    before = pickle.dumps(bank)
    for ts in (59 * MINUTE, 3 * MINUTE):
        with pytest.raises(ValueError, match=f"ts_ns must increase, got {ts} after {59 * MINUTE}"):
            bank.update(**GOOD, ts_ns=ts)
    with pytest.raises(ValueError, match="ts_ns must be an integer"):
        bank.update(**GOOD, ts_ns=None)
    assert pickle.dumps(bank) == before


def batch_of(rows: int, **overrides: list[float]) -> CandleBatch:
    cols = {k: [v] * rows for k, v in GOOD.items()} | overrides
    ts = cols.get("ts_ns", [(1000 + i) * MINUTE for i in range(rows)])
    return CandleBatch.from_columns(
        "ETH/BTC",
        Timeframe.M5,
        ts,
        cols["open"],
        cols["high"],
        cols["low"],
        cols["close"],
        cols["volume"],
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"high": [101.0, math.nan, 101.0]}, r"high\[1\] must be finite and > 0, got nan"),
        ({"volume": [1.0, 1.0, -3.0]}, r"volume\[2\] must be finite and >= 0, got -3\.0"),
        ({"open": [0.0, 1.0, 1.0]}, r"open\[0\] must be finite and > 0, got 0\.0"),
        ({"ts_ns": [1000 * MINUTE, 1001 * MINUTE, 1001 * MINUTE]}, r"ts_ns\[2\] must increase"),
        ({"ts_ns": [5 * MINUTE, 1001 * MINUTE, 1002 * MINUTE]}, r"ts_ns\[0\] must increase"),
    ],
)
def test_bank_batch_names_symbol_and_row_and_consumes_nothing(overrides, message: str) -> None:
    bank = warmed_bank()
    before = pickle.dumps(bank)
    with pytest.raises(ValueError, match=r"on ETH/BTC 5m: " + message):
        bank.update_batch(batch_of(3, **overrides))
    assert pickle.dumps(bank) == before
