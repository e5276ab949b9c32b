"""CandleValidator: invariants, open-time order and alignment per timeframe, real data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from connectors.files import SHIPPED_DATA
from operators.validation import ACCEPTED, CandleValidator, Reason
from schemas.batches import CandleBatch
from schemas.common import Timeframe

MINUTE = 60_000_000_000
T0 = 1_640_995_200_000_000_000  # 2022-01-01T00:00:00Z
NAN, INF = float("nan"), float("inf")


def candles(
    ohlcv: list[tuple[float, float, float, float, float]],
    ts: list[int] | None = None,
    timeframe: Timeframe = Timeframe.M1,
    symbol: str = "BTC-PERP",
) -> CandleBatch:
    columns = list(zip(*ohlcv, strict=True)) if ohlcv else [[]] * 5
    stamps = ts if ts is not None else [T0 + i * timeframe.ns for i in range(len(ohlcv))]
    return CandleBatch.from_columns(symbol, timeframe, stamps, *columns)


GOOD = (10.0, 12.0, 9.0, 11.0, 5.0)


@pytest.mark.parametrize(
    ("row", "reason", "detail"),
    [
        ((NAN, 12.0, 9.0, 11.0, 5.0), Reason.NON_FINITE_VALUE, "open nan is not finite"),
        ((10.0, 12.0, 9.0, 11.0, INF), Reason.NON_FINITE_VALUE, "volume inf is not finite"),
        ((10.0, 12.0, -9.0, 11.0, 5.0), Reason.NON_POSITIVE_PRICE, "low -9.0 is not positive"),
        ((0.0, 12.0, 0.0, 11.0, 5.0), Reason.NON_POSITIVE_PRICE, "open 0.0 is not positive"),
        (
            (10.0, 1e300, 9.0, 11.0, 5.0),
            Reason.PRICE_OUT_OF_RANGE,
            "high 1e+300 is above max_price 1e+12",
        ),
        ((10.0, 12.0, 9.0, 11.0, -1.0), Reason.NEGATIVE_VOLUME, "volume -1.0 is negative"),
        (
            (10.0, 10.5, 9.0, 11.0, 5.0),
            Reason.INCONSISTENT_OHLC,
            "high 10.5 < max(open, close) 11.0",
        ),
        (
            (10.0, 12.0, 10.5, 11.0, 5.0),
            Reason.INCONSISTENT_OHLC,
            "low 10.5 > min(open, close) 10.0",
        ),
    ],
)
def test_candle_invariants(
    row: tuple[float, float, float, float, float], reason: Reason, detail: str
) -> None:
    validator = CandleValidator("BTC-PERP")
    good, dead = validator.validate(candles([GOOD, row, GOOD]))
    assert good.ts_ns.tolist() == [T0, T0 + 2 * MINUTE]
    (letter,) = dead
    assert (letter.reason, letter.detail) == (reason.value, detail)
    assert json.loads(letter.raw)["timeframe"] == "1m"
    assert validator.counts == {ACCEPTED: 2, reason.value: 1}


def test_zero_volume_candle_is_valid() -> None:
    good, dead = CandleValidator("BTC-PERP").validate(candles([(10.0, 10.0, 10.0, 10.0, 0.0)]))
    assert len(good) == 1 and dead == []


def test_misaligned_open_time() -> None:
    batch = candles([GOOD, GOOD], ts=[T0, T0 + 7 * MINUTE + 1], timeframe=Timeframe.M5)
    good, dead = CandleValidator("BTC-PERP").validate(batch)
    assert len(good) == 1
    assert [(d.reason, d.detail) for d in dead] == [
        (
            Reason.MISALIGNED_OPEN_TIME.value,
            "ts 2022-01-01T00:07:00+00:00 is not on a 5m boundary",
        )
    ]


def test_duplicate_and_non_increasing_open_times_within_and_across_batches() -> None:
    validator = CandleValidator("BTC-PERP")
    good, dead = validator.validate(
        candles([GOOD] * 4, ts=[T0, T0 + MINUTE, T0 + MINUTE, T0 + 2 * MINUTE])
    )
    assert good.ts_ns.tolist() == [T0, T0 + MINUTE, T0 + 2 * MINUTE]
    assert [d.reason for d in dead] == [Reason.DUPLICATE_OPEN_TIME.value]
    assert dead[0].detail == (
        "open time 2022-01-01T00:01:00+00:00 is not after 2022-01-01T00:01:00+00:00"
    )
    good, dead = validator.validate(candles([GOOD] * 3, ts=[T0 + 2 * MINUTE, T0, T0 + 3 * MINUTE]))
    assert good.ts_ns.tolist() == [T0 + 3 * MINUTE]
    assert [d.reason for d in dead] == [
        Reason.DUPLICATE_OPEN_TIME.value,
        Reason.NON_INCREASING_OPEN_TIME.value,
    ]


def test_a_rejected_candle_does_not_block_a_valid_one_at_the_same_time() -> None:
    bad = (10.0, 9.0, 9.0, 11.0, 5.0)
    good, dead = CandleValidator("BTC-PERP").validate(candles([bad, GOOD], ts=[T0, T0]))
    assert good.ts_ns.tolist() == [T0] and good.high.tolist() == [12.0]
    assert [d.reason for d in dead] == [Reason.INCONSISTENT_OHLC.value]


def test_timeframes_of_one_symbol_are_ordered_independently() -> None:
    validator = CandleValidator("BTC-PERP")
    validator.validate(candles([GOOD] * 3))
    hourly = candles([GOOD], ts=[T0], timeframe=Timeframe.H1)
    good, dead = validator.validate(hourly)
    assert len(good) == 1 and dead == []


def test_far_future_candle_is_out_of_range() -> None:
    validator = CandleValidator("BTC-PERP")
    future = T0 + 10 * 24 * 60 * MINUTE
    good, dead = validator.validate(candles([GOOD, GOOD], ts=[T0, future]))
    assert len(good) == 1 and [d.reason for d in dead] == [Reason.TIMESTAMP_OUT_OF_RANGE.value]


def test_candles_of_another_symbol_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="validator of BTC-PERP got a batch of ETH-PERP"):
        CandleValidator("BTC-PERP").validate(candles([GOOD], symbol="ETH-PERP"))


@pytest.mark.parametrize(
    "name", ["alts-btc_5m_2018-01", "btc-perp_1m_2022-01", "btc_1m_2017-11", "xrp-eth_1m_2019-10"]
)
def test_real_candles_pass_untouched(name: str) -> None:
    loaded = SHIPPED_DATA[name].load()
    total = 0
    for batch in loaded.batches():
        validator = CandleValidator(batch.symbol)
        for start in range(0, len(batch), 4999):
            chunk = batch.take(np.arange(start, min(start + 4999, len(batch))))
            good, dead = validator.validate(chunk)
            assert dead == [], dead[:3]
            total += len(good)
    assert total == len(loaded)
