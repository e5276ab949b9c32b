"""Fixtures for the live-data tests: the loopback simulator and a partition drainer.

Everything runs on 127.0.0.1. Waits are on conditions with generous deadlines (a failing
condition fails the test with what was seen); the simulator's clock only moves when a test
steps it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from connectors.binance import BinanceConfig, BinanceSource
from connectors.feed.backoff import BackoffPolicy
from connectors.feed.health import FeedHealth
from connectors.feed.rest import RetryPolicy
from connectors.simulator import ExchangeSimulator, Market, SimulatorConfig, default_markets
from schemas.batches import CandleBatch, TradeBatch
from schemas.market import BookTop
from schemas.records import DeadLetter

START_MS = 1_610_064_000_000  # 2021-01-08 00:00 UTC: BTC/USDT's recorded trades start here
DEADLINE = 20.0  # seconds any single condition may take before the test fails


@pytest.fixture(scope="session")
def markets() -> dict[str, Market]:
    return default_markets(START_MS)


@pytest.fixture
def make_sim(markets: dict[str, Market]) -> Iterator[Callable[..., ExchangeSimulator]]:
    started: list[ExchangeSimulator] = []

    def make(**overrides: Any) -> ExchangeSimulator:
        config = SimulatorConfig(start_ms=START_MS, **overrides)
        sim = ExchangeSimulator(config, markets).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: Callable[..., ExchangeSimulator]) -> ExchangeSimulator:
    return make_sim(ping_interval=None)


def fast_config(sim: ExchangeSimulator, **overrides: Any) -> BinanceConfig:
    """A source configuration with test-sized timings, pointed at ``sim``."""
    settings: dict[str, Any] = {
        "symbols": ("BTC/USDT",),
        "timeframes": (),
        "ws_url": sim.ws_url,
        "rest_url": sim.rest_url,
        "api_key": "test",
        "tick": 0.01,
        "reorder_window": 0.05,
        "reconnect_after_silence": 60.0,
        "stale_after": 30.0,
        "heartbeat_every": 30.0,
        "backoff": BackoffPolicy(initial=0.05, factor=2.0, maximum=0.2, jitter=0.5),
        "retry": RetryPolicy(attempts=4, backoff=BackoffPolicy(0.05, 2.0, 0.2, 0.5)),
    }
    settings.update(overrides)
    return BinanceConfig(**settings)


@dataclass
class Collected:
    """Everything a partition emitted, by kind."""

    trades: dict[str, list[TradeBatch]] = field(default_factory=dict)
    candles: dict[tuple[str, str], list[CandleBatch]] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    health: list[FeedHealth] = field(default_factory=list)
    quotes: list[BookTop] = field(default_factory=list)

    def add(self, items: list[Any]) -> None:
        for item in items:
            if isinstance(item, TradeBatch):
                self.trades.setdefault(item.symbol, []).append(item)
            elif isinstance(item, CandleBatch):
                self.candles.setdefault((item.symbol, item.timeframe.value), []).append(item)
            elif isinstance(item, DeadLetter):
                self.dead.append(item)
            elif isinstance(item, FeedHealth):
                self.health.append(item)
            elif isinstance(item, BookTop):
                self.quotes.append(item)
            else:
                raise AssertionError(f"unexpected item {item!r}")

    def trade_ids(self, symbol: str = "BTC/USDT") -> list[int]:
        batches = self.trades.get(symbol, [])
        return np.concatenate([b.trade_id for b in batches]).tolist() if batches else []

    def candle_opens_ms(self, symbol: str, timeframe: str = "1m") -> list[int]:
        batches = self.candles.get((symbol, timeframe), [])
        return [int(t) // 1_000_000 for b in batches for t in b.ts_ns]


def drain_until(
    part: Any, got: Collected, condition: Callable[[], bool], what: str, deadline: float = DEADLINE
) -> None:
    """Call ``next_batch`` until ``condition()`` holds; fail naming ``what`` after the deadline."""
    end = time.monotonic() + deadline
    while True:
        got.add(part.next_batch())
        if condition():
            return
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def wait_for(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def published_ids(sim: ExchangeSimulator, market_id: str = "BTCUSDT") -> list[int]:
    """Ids of every trade the simulator has published so far (its clock's now)."""
    tape = sim.markets[market_id].trades
    assert tape is not None
    return tape.ids(0, tape.trades.count_at_or_before(sim.now_ms())).tolist()


@pytest.fixture
def open_source() -> Iterator[Callable[..., Any]]:
    """Build partitions of a BinanceSource and close them after the test."""
    parts: list[Any] = []

    def build(config: BinanceConfig, resume: dict | None = None, **kwargs: Any) -> Any:
        source = BinanceSource(config, seed=7, **kwargs)
        part = source.build_part("input", source.list_parts()[0], resume)
        parts.append(part)
        return part

    yield build
    for part in parts:
        part.close()
