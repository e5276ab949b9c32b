"""The ccxt polling source: against the simulator's Binance REST (the only reachable exchange),
and against a scripted in-memory exchange for venues whose trade ids are not integers."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import numpy as np
import pytest

from connectors.ccxt_source import CcxtPollingSource, PollingConfig
from connectors.ccxt_source.poller import Poller
from connectors.feed.backoff import BackoffPolicy
from connectors.feed.outbox import Outbox
from connectors.feed.rest import RetryPolicy
from schemas.common import Timeframe

from .conftest import START_MS, Collected, drain_until

pytestmark = pytest.mark.timeout(60)


def polling_config(sim, **overrides: Any) -> PollingConfig:
    settings: dict[str, Any] = {
        "exchange": "binance",
        "symbols": ("BTC/USDT",),
        "timeframes": (Timeframe.M1,),
        "rest_url": sim.rest_url,
        "poll_interval": 0.02,
        "retry": RetryPolicy(attempts=4, backoff=BackoffPolicy(0.02, 2.0, 0.1, 0.5)),
    }
    settings.update(overrides)
    return PollingConfig(**settings)


@pytest.fixture
def open_poller():
    parts: list[Any] = []

    def build(config: PollingConfig, resume: dict | None = None) -> Any:
        source = CcxtPollingSource(config, seed=3)
        part = source.build_part("input", source.list_parts()[0], resume)
        parts.append(part)
        return part

    yield build
    for part in parts:
        part.close()


def step(sim, part, got: Collected, ms: int) -> None:
    """Advance the exchange, then wait for a whole poll cycle that started afterwards."""
    sim.advance(ms)
    target = part.poller.cycles + 2
    drain_until(part, got, lambda: part.poller.cycles >= target, "a full poll cycle")
    got.add(part.next_batch())


def published_aggregates(sim) -> tuple[int, float]:
    tape = sim.markets["BTCUSDT"].trades
    now = sim.now_ms()
    count = tape.aggregates.count_at_or_before(now)
    _, rows = tape.trades.rows(0, tape.trades.count_at_or_before(now))
    return count, float(tape.trades.column("qty", rows).sum())


def test_polls_trades_and_closed_candles_exactly_once(sim, open_poller):
    part = open_poller(polling_config(sim))
    got = Collected()
    drain_until(part, got, lambda: part.poller.cycles >= 1, "the first poll")
    for _ in range(13):
        step(sim, part, got, 5_000)
    count, qty = published_aggregates(sim)
    ids = got.trade_ids()
    assert ids == list(range(1, count + 1))  # aggregate trade ids, each exactly once
    amounts = np.concatenate([b.amount for b in got.trades["BTC/USDT"]])
    assert amounts.sum() == pytest.approx(qty, rel=1e-12)
    assert {b.source for b in got.trades["BTC/USDT"]} == {"ccxt:binance"}
    # the first minute closed at +60 s: one candle, all 2,001 recorded trades
    candles = got.candles[("BTC/USDT", "1m")]
    assert got.candle_opens_ms("BTC/USDT") == [START_MS]
    candle = candles[0]
    assert (candle.open[0], candle.high[0], candle.low[0], candle.close[0]) == (
        39432.48,
        39550.0,
        39430.3,
        39491.76,
    )
    assert candle.volume[0] == pytest.approx(87.071596, rel=1e-12)
    assert part.poller.stats.duplicates_dropped > 0  # polls overlap; the cursor removed them


def test_respects_429_and_retries(sim, open_poller):
    part = open_poller(polling_config(sim, timeframes=()))
    got = Collected()
    drain_until(part, got, lambda: part.poller.cycles >= 1, "the first poll")
    sim.faults.fail_rest(2, status=429, retry_after=0, path="/api/v3/aggTrades")
    step(sim, part, got, 5_000)
    step(sim, part, got, 5_000)
    count, _ = published_aggregates(sim)
    assert got.trade_ids() == list(range(1, count + 1))
    assert part.poller.stats.rest_retries == 2
    assert sim.rest.stats.count("/api/v3/aggTrades", 429) == 2


def test_resumes_from_its_snapshot(sim, open_poller):
    config = polling_config(sim, timeframes=())
    first = open_poller(config)
    got = Collected()
    drain_until(first, got, lambda: first.poller.cycles >= 1, "the first poll")
    step(sim, first, got, 3_000)
    snapshot = first.snapshot()
    first.close()
    sim.advance(4_000)
    second = open_poller(config, resume=snapshot)
    resumed = Collected()
    drain_until(second, resumed, lambda: second.poller.cycles >= 2, "two polls")
    count, _ = published_aggregates(sim)
    assert got.trade_ids() + resumed.trade_ids() == list(range(1, count + 1))


class ScriptedExchange:
    """Stands in for a venue like Kraken: string trade ids, a bad row and a missing candle."""

    has: ClassVar[dict[str, bool]] = {"fetchTime": False}

    def __init__(self) -> None:
        self.markets: dict[str, Any] = {}
        self.trades = [
            {
                "id": f"T-{i}",
                "timestamp": 1_000 + i // 2,
                "price": 10.0 + i,
                "amount": 1.0,
                "side": "buy" if i % 2 else "sell",
            }
            for i in range(6)
        ]
        self.trades.append({"id": "bad", "timestamp": None, "price": 1.0, "amount": 1.0})
        self.candles = [
            [0, 1, 2, 0.5, 1.5, 3],
            [60_000, 1, 2, 0.5, 1.5, 3],
            [180_000, 1, 2, 0.5, 1.5, 3],
            [240_000, 1, 2, 0.5, 1.5, 3],
        ]
        self.closed = False

    async def load_markets(self) -> dict[str, Any]:
        self.markets = {"ABC/USD": {}}
        return self.markets

    async def fetch_trades(self, symbol, since=None, limit=None, params=None):
        return [t for t in self.trades if since is None or (t["timestamp"] or 0) >= since]

    async def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None):
        return [c for c in self.candles if since is None or c[0] >= since]

    async def close(self) -> None:
        self.closed = True


def test_generic_exchange_string_ids_bad_rows_and_missing_candles():
    from datetime import UTC, datetime

    exchange = ScriptedExchange()
    config = PollingConfig(exchange="kraken", symbols=("ABC/USD",), poll_interval=0.01)
    outbox = Outbox(config.source)
    wall = lambda: datetime.fromtimestamp(400, UTC)  # noqa: E731 - candles up to 240 s closed
    poller = Poller(config, ("ABC/USD",), outbox, wall=wall, exchange_factory=lambda: exchange)

    async def two_cycles() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        while poller.cycles < 2:
            await asyncio.sleep(0.005)
        stop.set()
        await task

    asyncio.run(asyncio.wait_for(two_cycles(), 10))
    got = Collected()
    got.add(outbox.drain())
    trades = got.trades["ABC/USD"]
    assert sum(len(b) for b in trades) == 6  # each once, though both polls returned them
    assert set(np.concatenate([b.trade_id for b in trades]).tolist()) == {-1}
    assert np.concatenate([b.side for b in trades]).tolist() == [-1, 1, -1, 1, -1, 1]
    assert got.candle_opens_ms("ABC/USD") == [0, 60_000, 180_000, 240_000]
    assert [d.reason for d in got.dead] == ["malformed_rest_row"]
    assert "'timestamp'" in got.dead[0].detail
    notes = [h.event for h in got.health]
    assert "gap skipped: 1m candles 120000..120000" in notes
    assert poller.stats.gaps_skipped == 1
    assert exchange.closed


def test_an_unlisted_symbol_fails_loudly():
    exchange = ScriptedExchange()
    config = PollingConfig(exchange="kraken", symbols=("NOT/LISTED",))
    poller = Poller(
        config, ("NOT/LISTED",), Outbox(config.source), exchange_factory=lambda: exchange
    )
    with pytest.raises(ValueError, match=r"kraken does not list \['NOT/LISTED'\]"):
        asyncio.run(poller.run(asyncio.Event()))
    assert exchange.closed
