"""Gaps inside open sessions are counted in live feed health (and its stored tables).

A scripted venue lists a stock's minutes around a weekend: the night and the weekend are closed
time, one minute lost on Monday morning is an open-session gap. Counted in the feed's counters
(every FeedHealth carries them into feed_status), noted as an event (feed_events).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np
import pytest

from connectors.ccxt_source import PollingConfig
from connectors.ccxt_source.poller import Poller
from connectors.feed.outbox import Outbox
from connectors.store.engine import open_store
from connectors.store.feed_health import latest_status, recent_events, write_feed_health

from .conftest import Collected

pytestmark = pytest.mark.timeout(60)


def utc_ms(text: str) -> int:
    return int(np.datetime64(text, "ms").astype(np.int64))


FRIDAY_LAST = [utc_ms("2024-01-05T20:58"), utc_ms("2024-01-05T20:59")]  # NYSE closes 21:00 UTC
MONDAY = [utc_ms("2024-01-08T14:30"), utc_ms("2024-01-08T14:31"), utc_ms("2024-01-08T14:33")]


class StockVenue:
    has: ClassVar[dict[str, bool]] = {"fetchTime": False}

    def __init__(self) -> None:
        self.markets: dict[str, Any] = {}

    async def load_markets(self) -> dict[str, Any]:
        self.markets = {"NVDA/USD": {}, "BTC/USD": {}}
        return self.markets

    async def fetch_trades(self, symbol, since=None, limit=None, params=None):
        return []

    async def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None):
        return [[t, 1, 2, 0.5, 1.5, 3] for t in FRIDAY_LAST + MONDAY if since is None or t >= since]

    async def close(self) -> None:
        return None


def run_cycles(calendars: dict[str, str]) -> tuple[Poller, Collected]:
    symbols = ("NVDA/USD", "BTC/USD")
    config = PollingConfig(exchange="kraken", symbols=symbols, poll_interval=0.01,
                           trades=False, calendars=calendars)  # fmt: skip
    outbox = Outbox(config.source)
    wall = lambda: datetime(2024, 1, 8, 15, tzinfo=UTC)  # noqa: E731 - every candle closed
    poller = Poller(config, symbols, outbox, wall=wall, exchange_factory=StockVenue)

    async def cycles() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        while poller.cycles < 2:
            await asyncio.sleep(0.005)
        stop.set()
        await task

    asyncio.run(asyncio.wait_for(cycles(), 20))
    got = Collected()
    got.add(outbox.drain())
    return poller, got


def test_a_minute_lost_in_a_session_is_a_gap_the_weekend_is_not(tmp_path) -> None:
    poller, got = run_cycles({"NVDA/USD": "XNYS"})
    # NVDA on the NYSE calendar: only 14:32 Monday is missing while open. BTC/USD (24/7): the
    # weekend and the minute are both open time missing: two gaps
    weekend = (utc_ms("2024-01-08T14:30") - utc_ms("2024-01-05T21:00")) // 60_000
    assert (poller.stats.open_gaps, poller.stats.open_missing_bars) == (3, 1 + weekend + 1)
    nvda = [h.event for h in got.health if h.symbol == "NVDA/USD"]
    assert [e for e in nvda if e.startswith("open-session")] == [
        "open-session gap: 1m candles missing 1 from 2024-01-08T14:32"
    ]
    minute = utc_ms("2024-01-08T14:32")
    assert [e for e in nvda if e.startswith("gap skipped")] == [
        f"gap skipped: 1m candles {minute}..{minute}"  # the weekend was no hole to skip
    ]
    btc = [h.event for h in got.health if h.symbol == "BTC/USD"]
    assert len([e for e in btc if e.startswith("gap skipped")]) == 2  # 24/7: weekend and minute
    engine = open_store(f"sqlite:///{tmp_path / 'feed.sqlite'}")
    write_feed_health(engine, "r1", got.health)
    with engine.connect() as conn:
        status = {s["symbol"]: s["counters"] for s in latest_status(conn, "r1")}
        events = [e["event"] for e in recent_events(conn)]
    assert status["NVDA/USD"]["open_gaps"] == 3  # the feed's running totals
    assert "open-session gap: 1m candles missing 1 from 2024-01-08T14:32" in events


def test_without_a_calendar_a_symbol_is_24_7() -> None:
    poller, _ = run_cycles({})
    assert poller.stats.open_gaps == 4
