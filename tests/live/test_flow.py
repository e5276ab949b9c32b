"""The live sources inside real Bytewax flows (run_main), bounded in time."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta

import bytewax.operators as op
import numpy as np
import pytest
from bytewax.dataflow import Dataflow
from bytewax.errors import BytewaxRuntimeError
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, run_main

from connectors.binance import BinanceSource
from connectors.ccxt_source import CcxtPollingSource, PollingConfig
from connectors.feed.health import FeedHealth
from connectors.feed.routing import split_feed
from connectors.simulator import ExchangeSimulator, Market, SimulatorConfig
from connectors.simulator.tape import TradeTape
from operators.divergence import DivergenceConfig, EntryBlocker, QualityKind, price_divergence
from schemas.batches import TradeBatch

from .conftest import START_MS, fast_config, published_ids, wait_for

pytestmark = pytest.mark.timeout(60)

SPEED = 20.0  # the recorded 46 seconds of BTC/USDT trades in about 2.3 s


def scaled_prices(market: Market, factor: float) -> Market:
    """The same market on a venue whose prices are ``factor`` times higher."""
    tape = market.trades
    assert tape is not None
    trades = tape.trades
    shifted = TradeTape.build(
        trades.ts_ms,
        trades.columns["price"] * factor,
        trades.columns["qty"],
        trades.columns["buyer_maker"],
        tape.first_id,
        trades.period_ms,
    )
    return dataclasses.replace(market, trades=shifted)


def test_the_websocket_source_in_a_flow_until_n_trades(markets):
    config = SimulatorConfig(start_ms=START_MS, speed=SPEED, ping_interval=None)
    with ExchangeSimulator(config, markets) as sim:
        source = BinanceSource(
            fast_config(
                sim,
                symbols=("BTC/USDT", "XRP/ETH"),
                max_streams_per_connection=1,
                heartbeat_every=0.2,
            ),
            max_trades=300,  # ends the BTC/USDT partition
            run_for=3.0,  # ends the sparse XRP/ETH one
            seed=1,
        )
        assert source.list_parts() == ["binance-0", "binance-1"]  # one connection per symbol
        flow = Dataflow("binance_flow")
        feed = split_feed("feed", op.input("in", flow, source))
        market: list[TradeBatch] = []
        health: list[FeedHealth] = []
        op.output("market", feed.market, TestingSink(market))
        op.output("health", feed.health, TestingSink(health))
        run_main(flow)
    btc = [b for b in market if b.symbol == "BTC/USDT"]
    ids = np.concatenate([b.trade_id for b in btc])
    assert len(ids) >= 300
    assert ids.tolist() == list(range(int(ids[0]), int(ids[0]) + len(ids)))
    assert {h.symbol for h in health} <= {"BTC/USDT", "XRP/ETH"} and health


def test_dual_source_divergence_between_two_venues(markets):
    """Binance over WebSocket and a mispriced venue polled through ccxt: one blocking event."""
    mispriced = dict(markets, BTCUSDT=scaled_prices(markets["BTCUSDT"], 1.01))
    config = SimulatorConfig(start_ms=START_MS, speed=SPEED, ping_interval=None)
    with (
        ExchangeSimulator(config, markets) as venue_a,
        ExchangeSimulator(config, mispriced) as venue_b,
    ):
        live = BinanceSource(fast_config(venue_a, heartbeat_every=1.0), run_for=2.5, seed=2)
        polled = CcxtPollingSource(
            PollingConfig(
                exchange="binance",
                symbols=("BTC/USDT",),
                timeframes=(),
                rest_url=venue_b.rest_url,
                poll_interval=0.05,
            ),
            run_for=2.5,
        )
        flow = Dataflow("dual_source")
        a = split_feed("a", op.input("binance", flow, live))
        b = split_feed("b", op.input("ccxt", flow, polled))
        both = op.merge("both", a.market, b.market)
        events: list = []
        trades: list = []
        op.output(
            "events",
            price_divergence("check", both, DivergenceConfig(threshold_bps=50)),
            TestingSink(events),
        )
        op.output("trades", both, TestingSink(trades))
        run_main(flow)
    assert {t.source for t in trades} == {"binance", "ccxt:binance"}
    assert events, "the 1 % price gap must raise an event"
    first = events[0]
    assert first.kind is QualityKind.PRICE_DIVERGENCE and first.blocks_entries
    assert set(first.sources) == {"binance", "ccxt:binance"}
    assert 50 < first.divergence_bps < 150  # 99.5 bps, give or take the market's own moves
    assert all(e.kind is QualityKind.PRICE_DIVERGENCE for e in events[:1])
    blocker = EntryBlocker()
    for event in events:
        blocker.update(event)
    assert blocker.blocks("BTC/USDT")


class CapturingSource(BinanceSource):
    """Keeps the partitions Bytewax builds and the snapshots Bytewax takes of them."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.parts: list = []
        self.snapshots: list[dict] = []

    def build_part(self, step_id, for_part, resume_state):
        part = super().build_part(step_id, for_part, resume_state)
        take = part.snapshot

        def recorded() -> dict:
            state = take()
            self.snapshots.append(state)
            return state

        part.snapshot = recorded
        self.parts.append(part)
        return part


class SimulatedCrashError(Exception):
    pass


def test_a_crashed_flow_resumes_from_its_recovery_snapshot(sim, tmp_path):
    """Bytewax recovery: after a crash the source restarts from its last snapshot and REST
    fills what happened meanwhile: nothing is missing and the resumed run repeats nothing."""
    init_db_dir(tmp_path, 1)
    recovery = RecoveryConfig(str(tmp_path))

    def run(source: CapturingSource, crash: threading.Event | None) -> list[int]:
        out: list[TradeBatch] = []

        def maybe_crash(item):
            if crash is not None and crash.is_set() and isinstance(item, TradeBatch):
                raise SimulatedCrashError("crash")
            return item

        flow = Dataflow("recoverable")
        feed = split_feed("feed", op.input("in", flow, source))
        op.output("out", op.map("crash", feed.market, maybe_crash), TestingSink(out))

        def drive() -> None:
            wait_for(lambda: source.parts and source.parts[0].session.subscriptions, "subscribe")
            part = source.parts[0]
            wait_for(lambda: not part.session.trade_gates["BTC/USDT"].backfilling, "catch-up")
            sim.advance(1_500)
            if crash is not None:  # let Bytewax snapshot the trades emitted, then crash
                wait_for(lambda: sum(bool(s["trades"]) for s in source.snapshots) >= 3, "epochs")
                crash.set()
                sim.advance(1_500)
            else:
                last = published_ids(sim)[-1]
                wait_for(lambda: part.outbox.cursor.last_trade_key("BTC/USDT") == last, "all")
                part.stop()

        driver = threading.Thread(target=drive, daemon=True)
        driver.start()
        try:
            run_main(flow, epoch_interval=timedelta(seconds=0.02), recovery_config=recovery)
        finally:
            driver.join(30)
        return np.concatenate([b.trade_id for b in out]).tolist() if out else []

    crashed = CapturingSource(fast_config(sim), seed=5)
    with pytest.raises(BytewaxRuntimeError, match="crash"):
        run(crashed, threading.Event())
    snapshotted = {s["trades"]["BTC/USDT"][0] for s in crashed.snapshots if s["trades"]}
    sim.advance(2_000)  # the market moves on while the flow is down
    resumed = run(CapturingSource(fast_config(sim), seed=5), crash=None)
    assert resumed[0] - 1 in snapshotted  # resumed right after a snapshot Bytewax committed
    assert resumed == list(range(resumed[0], published_ids(sim)[-1] + 1))  # none lost or repeated
