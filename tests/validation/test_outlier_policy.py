"""A venue's own trades are kept: outliers are flagged, rejected only by policy or a 2nd source."""

from __future__ import annotations

import json

import bytewax.operators as op
import numpy as np
import polars as pl
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from benchmarks.workloads import BTC_PERP_1M, derived_trades
from connectors.store.engine import open_store
from connectors.store.market import read_quality_flags
from connectors.store.sink import StoreWriter
from operators.candles.multi import MultiTimeframeCandles
from operators.validation import Reason, TradeValidator, ValidationConfig, validate_trades
from schemas.batches import TradeBatch
from schemas.common import Timeframe
from schemas.records import QualityFlag

SECOND = 1_000_000_000
T0 = 1_610_064_000 * SECOND


def ticks(prices: list[float], source: str, t0: int = T0, first_id: int = 0) -> TradeBatch:
    n = len(prices)
    return TradeBatch.from_columns(
        "BTC/USDT",
        [t0 + i * SECOND for i in range(n)],
        prices,
        [1.0] * n,
        trade_id=list(range(first_id, first_id + n)),
        source=source,
    )


def steady(n: int, source: str = "binance") -> TradeBatch:
    return ticks(list(100.0 + 0.05 * np.sin(np.arange(n))), source)


def test_an_outlier_is_kept_by_default_with_a_flag_naming_the_test() -> None:
    validator = TradeValidator("BTC/USDT")
    validator.validate(steady(200))
    assert validator.flags == []
    probe = ticks([100.02, 250.0, 99.97], "binance", T0 + 300 * SECOND, 500)
    good, dead = validator.validate(probe)
    assert dead == [] and good.price.tolist() == [100.02, 250.0, 99.97]
    (flag,) = validator.flags
    assert flag.reason == Reason.PRICE_OUTLIER.value and flag.source == "binance"
    assert flag.detail.startswith("price 250.0 has robust z-score ")
    assert flag.detail.endswith("kept (outlier_policy: flag)")
    assert json.loads(flag.raw)["trade_id"] == 501
    assert validator.counts["flagged:price_outlier"] == 1
    validator.validate(ticks([100.0], "binance", T0 + 400 * SECOND, 900))
    assert validator.flags == []  # the flags of the last call only


def test_a_second_source_that_disagrees_rejects_the_suspect_price() -> None:
    validator = TradeValidator("BTC/USDT")
    validator.validate(steady(200))
    validator.validate(ticks([100.01], "kraken", T0 + 299 * SECOND, 10_000))
    good, dead = validator.validate(ticks([250.0], "binance", T0 + 300 * SECOND, 600))
    assert len(good) == 0
    (letter,) = dead
    assert letter.reason == Reason.DISPUTED_PRICE.value
    assert "another source of BTC/USDT disagrees by more than 50 bps" in letter.detail


def test_a_second_source_that_agrees_or_is_too_old_keeps_it() -> None:
    validator = TradeValidator("BTC/USDT")
    validator.validate(steady(200))
    validator.validate(ticks([249.9], "kraken", T0 + 299 * SECOND, 10_000))  # confirms the move
    good, dead = validator.validate(ticks([250.0], "binance", T0 + 300 * SECOND, 600))
    assert dead == [] and len(good) == 1 and len(validator.flags) == 1
    stale = TradeValidator("BTC/USDT")
    stale.validate(steady(200))
    stale.validate(ticks([100.0], "kraken", T0 + 100 * SECOND, 10_000))  # 200 s before
    good, dead = stale.validate(ticks([250.0], "binance", T0 + 300 * SECOND, 600))
    assert dead == [] and len(good) == 1


def test_the_wicks_of_the_derived_btc_month_are_no_longer_lost() -> None:
    """289 of the 180,124 trades derived from the real BTC month sit at its fastest wicks."""
    workload = derived_trades()
    batch = TradeBatch.from_columns(
        "BTC/USD", workload.ts_ns, workload.price, workload.amount, workload.trade_id
    )
    chunks = [batch.take(slice(i, i + 50_000)) for i in range(0, len(batch), 50_000)]

    def validated(config: ValidationConfig) -> tuple[TradeValidator, list[TradeBatch], int]:
        validator = TradeValidator("BTC/USD", config)
        kept, flags = [], 0
        for chunk in chunks:
            good, _ = validator.validate(chunk)
            kept.append(good)
            flags += len(validator.flags)
        return validator, kept, flags

    strict, _, _ = validated(ValidationConfig(outlier_policy="reject"))
    assert strict.counts[Reason.PRICE_OUTLIER.value] == 289
    default, kept, flags = validated(ValidationConfig())
    assert flags == default.counts["flagged:price_outlier"] == 289
    assert sum(len(k) for k in kept) == len(batch) == 180_124
    core = MultiTimeframeCandles.from_trades("BTC/USD", [Timeframe.M5], fill_empty=False)
    minutes = [core.update(k).candles.get(Timeframe.M1) for k in kept]
    minutes.append(core.flush().candles[Timeframe.M1])
    bars = pl.read_parquet(BTC_PERP_1M).sort("ts")
    for name in ("open", "high", "low", "close"):
        ours = np.concatenate([getattr(m, name) for m in minutes if m is not None])
        np.testing.assert_array_equal(ours, bars[name].to_numpy(), err_msg=name)


def test_the_operator_streams_flags_and_the_store_keeps_them() -> None:
    batches = [steady(200), ticks([250.0], "binance", T0 + 300 * SECOND, 600)]
    flow = Dataflow("flags_test")
    keyed = op.key_on("key", op.input("in", flow, TestingSource(batches)), lambda b: b.symbol)
    checked = validate_trades("validate", keyed)
    valid, dead, flags = [], [], []
    op.output("valid", checked.valid, TestingSink(valid))
    op.output("dead", checked.dead, TestingSink(dead))
    op.output("flags", checked.flags, TestingSink(flags))
    run_main(flow)
    assert sum(len(b) for _, b in valid) == 201 and dead == []
    assert [type(f) for f in flags] == [QualityFlag]
    engine = open_store("sqlite://")
    assert StoreWriter("r1").write(engine, flags + flags) == {"QualityFlag": 2}
    stored = read_quality_flags(engine)
    assert stored["reason"].to_list() == ["price_outlier"]
    assert stored["symbol"].to_list() == ["BTC/USDT"]
