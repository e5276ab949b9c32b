"""Pickle the state mid-run, restore it, continue: bit-for-bit the values of a single run.

This is what Bytewax recovery does with the keyed state. Split points: inside the warm-up
(MACD still holds its seed inputs), right after it, and in the middle of the month.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable

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
from schemas.common import Timeframe

SPLITS = [10, 40, 22_517]

Run = Callable[[object, dict[str, np.ndarray], slice], np.ndarray]


def close_only(indicator, s, part: slice) -> np.ndarray:
    return indicator.update_many(s["close"][part])


def hlc(indicator, s, part: slice) -> np.ndarray:
    return indicator.update_many(s["high"][part], s["low"][part], s["close"][part])


def candles(indicator, s, part: slice) -> np.ndarray:
    cols = [s[name][part] for name in ("high", "low", "close", "volume", "ts_ns")]
    return indicator.update_many(*cols)


CASES = [
    pytest.param(lambda: SMA(20), close_only, id="sma"),
    pytest.param(lambda: EMA(26), close_only, id="ema"),
    pytest.param(lambda: RSI(14), close_only, id="rsi"),
    pytest.param(lambda: ATR(14), hlc, id="atr"),
    pytest.param(lambda: MACD(12, 26, 9), close_only, id="macd"),
    pytest.param(lambda: Bollinger(20, 2.0), close_only, id="bollinger"),
    pytest.param(lambda: Volatility(20), close_only, id="volatility"),
    pytest.param(lambda: ZScore(20), close_only, id="zscore"),
    pytest.param(lambda: VWAP(), candles, id="vwap"),
]


@pytest.mark.parametrize(("make", "run"), CASES)
@pytest.mark.parametrize("split", SPLITS)
def test_indicator_resumes_bit_for_bit(btc, make, run: Run, split: int) -> None:
    whole = run(make(), btc, slice(None))
    first = make()
    head = run(first, btc, slice(None, split))
    restored = pickle.loads(pickle.dumps(first))
    assert repr(restored) == repr(first)
    tail = run(restored, btc, slice(split, None))
    resumed = np.concatenate([head, tail])
    np.testing.assert_array_equal(resumed, whole)  # NaN == NaN, every other value bit-equal
    assert resumed.tobytes() == whole.tobytes()


@pytest.mark.parametrize("split", SPLITS)
def test_bank_resumes_bit_for_bit(btc, btc_features, as_batch, split: int) -> None:
    batch = as_batch("BTC-PERP", btc, Timeframe.M1)
    whole = btc_features
    first = IndicatorBank()
    head = first.update_batch(batch.take(slice(None, split)))
    restored = pickle.loads(pickle.dumps(first))
    tail = restored.update_batch(batch.take(slice(split, None)))
    for name, column in whole.items():
        resumed = np.concatenate([head[name], tail[name]])
        assert resumed.tobytes() == column.tobytes(), name


def test_restored_bank_still_shares_its_indicators_and_checks_time(btc) -> None:
    bank = IndicatorBank()
    fields = ("open", "high", "low", "close", "volume")
    for i in range(50):
        bank.update(*(float(btc[k][i]) for k in fields), int(btc["ts_ns"][i]))
    restored = pickle.loads(pickle.dumps(bank))
    assert restored.names == bank.names
    assert len(restored.indicators) == len(bank.indicators) == 12
    with pytest.raises(ValueError, match="ts_ns must increase"):
        restored.update(1.0, 1.0, 1.0, 1.0, 1.0, int(btc["ts_ns"][49]))
