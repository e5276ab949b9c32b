"""The trading core as a Bytewax step, on the real BTC perpetual month with hand-made signals."""

from __future__ import annotations

from pathlib import Path

import bytewax.operators as op
import numpy as np
import polars as pl
import pytest
import talib
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from operators.execution.engine import TradingEngine
from operators.execution.operator import trading_core
from operators.execution.trading_config import TradingConfig
from schemas.batches import CandleBatch, FeatureBatch
from schemas.common import NS_PER_MINUTE, datetime_to_ns, ns_to_datetime
from schemas.signals import FusedSignal
from schemas.trading import Fill, Order, OrderIntent

DATA = Path(__file__).resolve().parents[2] / "connectors" / "data" / "btc-perp_1m_2022-01.parquet"
ASSET = "BTC-PERP"
CONFIG = TradingConfig.model_validate(
    {
        "portfolio": {
            "instruments": {
                "assets": {
                    ASSET: {"price_tick": "0.5", "lot_step": "0.0001", "volume_unit": "quote"}
                }
            }
        }
    }
)


def real_inputs() -> tuple[pl.DataFrame, list]:
    """The month of 1m bars in daily batches, ATR(20) on 15m (TA-Lib), and decisions every 6 h."""
    bars = pl.read_parquet(DATA).sort("ts")
    ts = bars["ts"].dt.epoch("ns").to_numpy()
    minutes = CandleBatch.from_columns(
        ASSET, "1m", ts, bars["open"], bars["high"], bars["low"], bars["close"], bars["volume"]
    )
    quarter = bars.group_by_dynamic("ts", every="15m", closed="left", label="left").agg(
        pl.col("open").first(),
        pl.col("high").max(),
        pl.col("low").min(),
        pl.col("close").last(),
        pl.col("volume").sum(),
    )
    q = {c: quarter[c].to_numpy() for c in ("open", "high", "low", "close", "volume")}
    candles_15m = CandleBatch.from_columns(
        ASSET,
        "15m",
        quarter["ts"].dt.epoch("ns").to_numpy(),
        q["open"],
        q["high"],
        q["low"],
        q["close"],
        q["volume"],
    )
    features = FeatureBatch(candles_15m, {"atr_20": talib.ATR(q["high"], q["low"], q["close"], 20)})
    items: list = []
    day = 1440
    decisions = ["open", "open", "review", "open", "ignore"]
    for start in range(0, len(minutes), day):  # a day of candles, then that day's decisions
        chunk = minutes.take(np.arange(start, min(start + day, len(minutes))))
        items.append(chunk)
        for j, k in enumerate(range(start + 120, start + day, 360)):
            if k >= len(minutes):
                break
            n = len([x for x in items if isinstance(x, FusedSignal)])
            items.append(
                FusedSignal(
                    fused_id=f"fs-{n}",
                    asset=ASSET,
                    timestamp=ns_to_datetime(int(ts[k])),  # close of bar k-1
                    score=0.8 if (start // day + j) % 2 else -0.8,
                    direction="long" if (start // day + j) % 2 else "short",
                    decision=decisions[n % len(decisions)],
                )
            )
    items.insert(1, features)
    return bars, items


@pytest.fixture(scope="module")
def market() -> tuple[pl.DataFrame, list]:
    return real_inputs()


def test_flow_equals_the_pure_core_and_never_looks_ahead(market: tuple[pl.DataFrame, list]) -> None:
    bars, items = market
    flow = Dataflow("trading_real")
    out: list = []
    op.output(
        "out",
        trading_core("trading", op.input("in", flow, TestingSource(items, 3)), CONFIG),
        TestingSink(out),
    )
    run_main(flow)

    core = TradingEngine(CONFIG)
    expected = core.process(items) + core.flush()
    assert out == expected

    fills = [e for e in out if isinstance(e, Fill)]
    assert len(fills) > 20 and all(f.fee > 0 for f in fills)
    intents = {i.intent_id: i for i in out if isinstance(i, OrderIntent)}
    orders = {o.order_id: o for o in out if isinstance(o, Order)}
    opens = dict(zip(bars["ts"].dt.epoch("ns").to_list(), bars["open"].to_list(), strict=True))
    for fill in fills:
        intent = intents[orders[fill.order_id].intent_id]
        assert fill.ts >= intent.timestamp  # the order existed before the bar it filled on
        assert float(fill.mid_price) == opens[datetime_to_ns(fill.ts)]  # that bar's real open
    entries = [f for f in fills if not intents[orders[f.order_id].intent_id].reduce_only]
    first = entries[0]
    signal_ts = intents[orders[first.order_id].intent_id].timestamp
    assert datetime_to_ns(first.ts) - datetime_to_ns(signal_ts) < NS_PER_MINUTE  # the next bar
    summary = core.summary()
    assert summary["candles"] == len(bars)
    assert "late_signals" not in summary  # each day's decisions came after its candles
