"""Dual-source validation: the pure monitor, the entry blocker and the Bytewax operator."""

from __future__ import annotations

from datetime import UTC, datetime

import bytewax.operators as op
import polars as pl
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from connectors.simulator.catalogue import DATA_DIR
from operators.divergence import (
    DataQualityEvent,
    DivergenceConfig,
    DivergenceMonitor,
    EntryBlocker,
    QualityKind,
    divergence_bps,
    events_of,
    price_divergence,
)
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import Timeframe

pytestmark = pytest.mark.timeout(60)

S = 1_000_000_000  # one second in ns


def real_trade_batches(source: str, scale: float = 1.0, size: int = 100) -> list[TradeBatch]:
    """The recorded BTC/USDT trades as one source's batches (prices optionally scaled)."""
    trades = pl.read_parquet(DATA_DIR / "btcusdt_trades_2021-01-08.parquet")
    ts = trades["timestamp"].dt.epoch("ns").to_numpy()
    price = trades["price"].to_numpy() * scale
    amount = trades["quantity"].to_numpy()
    return [
        TradeBatch.from_columns(
            "BTC/USDT", ts[i : i + size], price[i : i + size], amount[i : i + size], source=source
        )
        for i in range(0, len(ts), size)
    ]


def interleave(*feeds: list) -> list:
    return [b for group in zip(*feeds, strict=True) for b in group]


def test_two_feeds_of_the_same_trades_agree():
    # each observation meets the other feed's latest price, up to 100 trades older: the market
    # moves a few bps in between, well under a 20 bps threshold
    batches = interleave(real_trade_batches("binance"), real_trade_batches("ccxt:kraken"))
    assert events_of(batches, DivergenceConfig(threshold_bps=20)) == []


def test_a_feed_one_percent_off_raises_one_blocking_event():
    batches = interleave(real_trade_batches("binance"), real_trade_batches("ccxt:kraken", 1.01))
    events = events_of(batches, DivergenceConfig(threshold_bps=50))
    assert len(events) == 1
    event = events[0]
    assert event.kind is QualityKind.PRICE_DIVERGENCE and event.blocks_entries
    assert set(event.sources) == {"binance", "ccxt:kraken"}
    assert event.divergence_bps == pytest.approx(divergence_bps(1.0, 1.01), abs=30)
    assert event.symbol == "BTC/USDT"


def test_hysteresis_skew_and_stale_observations():
    mon = DivergenceMonitor("X/Y", DivergenceConfig(threshold_bps=100, clear_bps=20, max_skew_s=2))
    assert mon.observe("a", 0, 100.0) is None
    assert mon.observe("b", 5 * S, 110.0) is None  # too far apart in time to compare
    assert mon.observe("a", 5 * S, 101.0).kind is QualityKind.PRICE_DIVERGENCE
    assert mon.observe("a", 6 * S, 109.0) is None  # 91 bps: below raise, above clear
    assert mon.blocks_entries
    assert mon.observe("a", 1 * S, 110.0) is None  # older than a's latest: ignored
    assert mon.observe("a", 6 * S + 1, float("nan")) is None
    cleared = mon.observe("b", 7 * S, 109.1)
    assert cleared is not None and cleared.kind is QualityKind.DIVERGENCE_CLEARED
    assert not cleared.blocks_entries and not mon.blocks_entries


def test_candle_closes_are_compared_at_their_close_time():
    def candles(source: str, close: float) -> CandleBatch:
        return CandleBatch.from_columns(
            "BTC/USDT", Timeframe.M1, [0], [close], [close], [close], [close], [1.0], source=source
        )

    events = events_of([candles("a", 100.0), candles("b", 102.0)], DivergenceConfig())
    assert [e.ts for e in events] == [datetime(1970, 1, 1, 0, 1, tzinfo=UTC)]


def test_aliases_put_two_symbols_on_one_asset():
    config = DivergenceConfig(threshold_bps=50, aliases={"BTC/USD": "BTC/USDT"})
    a = TradeBatch.from_columns("BTC/USDT", [0], [100.0], [1.0], source="binance")
    b = TradeBatch.from_columns("BTC/USD", [S], [102.0], [1.0], source="kraken")
    events = events_of([a, b], config)
    assert [e.symbol for e in events] == ["BTC/USDT"]


def test_entry_blocker_follows_the_latest_event():
    blocker = EntryBlocker()
    raised = DataQualityEvent(
        kind="price_divergence",
        symbol="X/Y",
        ts=datetime(2024, 1, 1, tzinfo=UTC),
        sources=("a", "b"),
        prices=(1.0, 1.1),
        divergence_bps=953.0,
        threshold_bps=50,
        blocks_entries=True,
        detail="a 1.0 vs b 1.1",
    )
    cleared = raised.model_copy(
        update={
            "kind": "divergence_cleared",
            "blocks_entries": False,
            "ts": datetime(2024, 1, 2, tzinfo=UTC),
        }
    )
    blocker.update(raised)
    assert blocker.blocks("X/Y") and blocker.reason("X/Y") == "a 1.0 vs b 1.1"
    blocker.update(cleared)
    blocker.update(raised)  # an older event does not override a newer one
    assert not blocker.blocks("X/Y") and blocker.reason("X/Y") is None


def test_config_is_validated():
    with pytest.raises(ValueError, match="threshold_bps must be > 0"):
        DivergenceConfig(threshold_bps=0)
    with pytest.raises(ValueError, match="clear_bps must be within"):
        DivergenceConfig(threshold_bps=10, clear_bps=20)


def test_operator_in_a_flow_equals_the_pure_reference():
    off = interleave(real_trade_batches("binance"), real_trade_batches("ccxt:kraken", 1.01))
    back = interleave(real_trade_batches("binance"), real_trade_batches("ccxt:kraken"))
    shift = 60 * S  # the feeds agree again a minute later
    back = [
        TradeBatch.from_columns(b.symbol, b.ts_ns + shift, b.price, b.amount, source=b.source)
        for b in back
    ]
    batches = off + back
    config = DivergenceConfig(threshold_bps=50)
    flow = Dataflow("divergence_test")
    out: list[DataQualityEvent] = []
    stream = op.input("in", flow, TestingSource(batches, batch_size=7))
    op.output("out", price_divergence("divergence", stream, config), TestingSink(out))
    run_main(flow)
    assert out == events_of(batches, config)
    assert [e.kind for e in out] == [QualityKind.PRICE_DIVERGENCE, QualityKind.DIVERGENCE_CLEARED]
