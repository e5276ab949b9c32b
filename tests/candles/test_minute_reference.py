"""Real trades → 1-minute candles, checked against candles built independently from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from operators.candles import MinuteCandleBuilder
from operators.candles.aggregate import concat_candles
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import NS_PER_MINUTE, Timeframe

DATA = Path(__file__).resolve().parents[2] / "connectors" / "data"


def epoch_ns(frame: pl.DataFrame, column: str = "ts") -> np.ndarray:
    return frame[column].dt.epoch("ns").to_numpy().astype(np.int64)


def build_minutes(trades: TradeBatch, batch_size: int, **options: object) -> CandleBatch:
    builder = MinuteCandleBuilder(trades.symbol, **options)  # type: ignore[arg-type]
    out = []
    for start in range(0, len(trades), batch_size):
        update = builder.update(trades.take(slice(start, start + batch_size)))
        assert update.late_count == 0  # the file is in time order: nothing can be late
        out.append(update.candles)
    out.append(builder.flush().candles)
    return concat_candles(trades.symbol, Timeframe.M1, out)


@pytest.mark.parametrize("batch_size", [1, 7, 1000, 12_477])
def test_xrp_trades_aggregate_exactly_to_the_reference_minutes(
    xrp_trades: TradeBatch, xrp_reference: pl.DataFrame, batch_size: int
) -> None:
    candles = build_minutes(xrp_trades, batch_size)
    traded = candles.take(candles.trades > 0)
    assert len(traded) == len(xrp_reference) == 2_469
    np.testing.assert_array_equal(traded.ts_ns, epoch_ns(xrp_reference))
    for column in ("open", "high", "low", "close", "volume"):
        # exact equality, bit for bit, no tolerance
        np.testing.assert_array_equal(getattr(traded, column), xrp_reference[column].to_numpy())
    assert int(traded.trades.sum()) == len(xrp_trades)


def test_batch_sizes_give_identical_candles(xrp_trades: TradeBatch) -> None:
    whole = build_minutes(xrp_trades, len(xrp_trades))
    for batch_size in (1, 7, 1000):
        split = build_minutes(xrp_trades, batch_size)
        for column in ("ts_ns", "open", "high", "low", "close", "volume", "trades"):
            np.testing.assert_array_equal(getattr(split, column), getattr(whole, column))


def test_untraded_minutes_become_zero_volume_candles_at_the_previous_close(
    xrp_trades: TradeBatch, xrp_reference: pl.DataFrame
) -> None:
    candles = build_minutes(xrp_trades, 1000)
    first, last = epoch_ns(xrp_reference)[[0, -1]]
    expected_minutes = np.arange(first, last + NS_PER_MINUTE, NS_PER_MINUTE)
    np.testing.assert_array_equal(candles.ts_ns, expected_minutes)  # every minute, no more
    empty = np.flatnonzero(candles.trades == 0)
    assert len(empty) == len(expected_minutes) - 2_469 > 0
    assert empty[0] > 0  # no candle before the first trade
    for column in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(candles, column)[empty], candles.close[empty - 1])
    np.testing.assert_array_equal(candles.volume[empty], 0.0)


def test_fill_empty_false_emits_only_traded_minutes(
    xrp_trades: TradeBatch, xrp_reference: pl.DataFrame
) -> None:
    candles = build_minutes(xrp_trades, 7, fill_empty=False)
    np.testing.assert_array_equal(candles.ts_ns, epoch_ns(xrp_reference))
    np.testing.assert_array_equal(candles.close, xrp_reference["close"].to_numpy())


@pytest.mark.skipif(
    int(pd.__version__.split(".")[0]) < 3,
    reason="pandas < 3 sums groups with Kahan compensation, not numpy's reduceat",
)
def test_volume_of_fractional_real_amounts_equals_pandas_resample_sum() -> None:
    """Non-integer sizes, where summation order matters: equal to pandas bit for bit.

    The real BTCUSDT trades span 46 seconds; their times are stretched tenfold so that the
    2,001 real sizes fall into eight minutes.
    """
    frame = pl.read_parquet(DATA / "btcusdt_trades_2021-01-08.parquet")
    ts = epoch_ns(frame, "timestamp")
    ts = ts[0] + (ts - ts[0]) * 10
    trades = TradeBatch.from_columns(
        "BTC/USDT", ts, frame["price"].to_numpy(), frame["quantity"].to_numpy()
    )
    series = pd.Series(trades.amount, index=pd.to_datetime(trades.ts_ns, utc=True))
    expected = series.resample("1min").sum()
    assert len(expected) == 8
    for batch_size in (1, 13, len(trades)):
        candles = build_minutes(trades, batch_size)
        np.testing.assert_array_equal(candles.ts_ns, expected.index.as_unit("ns").asi8)
        np.testing.assert_array_equal(candles.volume, expected.to_numpy())
