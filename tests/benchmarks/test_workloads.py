"""Derived trade workloads: they rebuild the real bars exactly and never sit on a boundary."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from benchmarks.workloads import (
    BTC_PERP_1M,
    derived_trades,
    minute_bars,
    scale_bars,
    trades_from_bars,
)
from operators.candles.multi import MultiTimeframeCandles
from schemas.batches import TradeBatch
from schemas.common import NS_PER_MINUTE, Timeframe


@pytest.mark.parametrize("per_bar", [4, 7, 200])
def test_derived_trades_aggregate_back_to_the_real_bars(per_bar: int) -> None:
    workload = derived_trades(1, per_bar, 3_000)
    core = MultiTimeframeCandles.from_trades("BTC/USD", [Timeframe.M5], fill_empty=False)
    batch = TradeBatch.from_columns("BTC/USD", workload.ts_ns, workload.price, workload.amount)
    update, last = core.update(batch), core.flush()
    minutes = [update.candles[Timeframe.M1], last.candles[Timeframe.M1]]
    bars = pl.read_parquet(BTC_PERP_1M).sort("ts").head(3_000)
    assert (
        np.concatenate([m.ts_ns for m in minutes]).tolist() == bars["ts"].dt.epoch("ns").to_list()
    )
    for name in ("open", "high", "low", "close"):
        ours = np.concatenate([getattr(m, name) for m in minutes])
        assert ours.tolist() == bars[name].to_list(), name
    volume = np.concatenate([m.volume for m in minutes])
    np.testing.assert_allclose(volume, bars["volume"].to_numpy(), rtol=1e-12)


def test_trades_sit_strictly_inside_their_minute_in_time_order() -> None:
    ts, price, amount, ids = trades_from_bars(pl.read_parquet(BTC_PERP_1M).sort("ts").head(50))
    offsets = ts % NS_PER_MINUTE
    assert offsets.min() > 0 and np.all(np.diff(ts) > 0)
    assert ids.tolist() == list(range(200)) and np.all(amount > 0) and np.all(price > 0)
    with pytest.raises(ValueError, match="per_bar must be at least 4"):
        trades_from_bars(pl.read_parquet(BTC_PERP_1M).head(2), per_bar=3)


def test_replicated_symbols_share_the_data_under_their_own_names() -> None:
    workload = derived_trades(3, 4, 10)
    loaded = workload.to_loaded()
    assert workload.symbols == ("BTC0000/USD", "BTC0001/USD", "BTC0002/USD")
    assert len(loaded) == workload.total_trades == 120 and loaded.symbols == workload.symbols
    per_symbol = loaded.frame.partition_by("symbol", as_dict=True)
    prices = {key[0]: part["price"].to_list() for key, part in per_symbol.items()}
    assert prices["BTC0000/USD"] == prices["BTC0002/USD"] == workload.price.tolist()
    assert "3 symbol(s)" in workload.description and "(10 bars)" in workload.description


def test_scale_bars_keeps_the_budget_within_the_month() -> None:
    assert scale_bars(100, 1_000_000) == 2_500
    assert scale_bars(10_000, 1_000_000, minimum=120) == 120
    assert scale_bars(1, 10**12) == len(minute_bars())
