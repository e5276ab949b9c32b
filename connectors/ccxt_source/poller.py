"""One partition of the ccxt polling source: a loop of REST polls, de-duplicated and in order.

Trades are de-duplicated with a :class:`~connectors.feed.cursor.TimeCursor` (venue trade ids need
not be consecutive integers); candles go through the same
:class:`~connectors.feed.gate.SequenceGate` as the WebSocket source. REST is the source of truth
here, so a hole in the candle times the exchange returns is genuine: it is skipped at once and
reported. Rate limits: ccxt's limiter spaces the calls; 429/5xx are retried by
:class:`~connectors.feed.rest.RestCaller` (Retry-After honoured).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from connectors.ccxt_source.config import PollingConfig
from connectors.feed.cursor import FeedCursor, TimeCursor
from connectors.feed.gate import SequenceGate
from connectors.feed.health import utc_now
from connectors.feed.outbox import Outbox
from connectors.feed.rest import ccxt_async, make_exchange
from connectors.feed.session import FeedSession
from schemas.common import Timeframe

log = logging.getLogger(__name__)


class Poller(FeedSession):
    """Polls ``symbols`` of one exchange until stopped; :meth:`run` is the feed coroutine."""

    def __init__(
        self,
        config: PollingConfig,
        symbols: tuple[str, ...],
        outbox: Outbox,
        resume: FeedCursor | None = None,
        *,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = utc_now,
        exchange_factory: Callable[[], Any] | None = None,
    ) -> None:
        resume = resume or FeedCursor()
        super().__init__(
            config.source, config, symbols, outbox, resume, rng=rng, monotonic=monotonic, wall=wall
        )
        self.config = config
        self._exchange_factory = exchange_factory or (
            lambda: make_exchange(
                config.exchange,
                rest_url=config.rest_url,
                api_key=config.api_key,
                options=config.options,
            )
        )
        self.trade_cursors = {s: TimeCursor(resume.trades.get(s)) for s in symbols}
        self.candle_gates = {
            (s, tf): SequenceGate(tf.seconds * 1000, resume.last_candle_open(s, tf.value), 0.0)
            for s in symbols
            for tf in config.timeframes
        }
        self.cycles = 0
        self._trade_duplicates = 0

    async def run(self, stop: asyncio.Event) -> None:
        async with self.rest_history(self._exchange_factory, self.config.retry) as exchange:
            assert self.history is not None
            await self.history.load_markets()
            missing = [s for s in self.symbols if s not in exchange.markets]
            if missing:
                raise ValueError(f"{self.config.exchange} does not list {missing}")
            self.health.set_connected(True, self._monotonic())
            while not stop.is_set():
                started = self._monotonic()
                await self.poll_once()
                self.cycles += 1
                wait = self.config.poll_interval - (self._monotonic() - started)
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), wait)

    async def poll_once(self) -> None:
        """One cycle over every symbol; a symbol whose REST calls fail is reported and skipped."""
        assert self.history is not None
        ccxt = ccxt_async()
        server_now = await self._server_now()
        for symbol in self.symbols:
            try:
                await self._poll_symbol(symbol, server_now)
            except (ccxt.NetworkError, ccxt.ExchangeError) as exc:
                log.warning("%s poll of %s failed: %r", self.config.source, symbol, exc)
                self.health.note(symbol, f"poll failed: {exc!r}"[:200])
            else:
                self.health.message(symbol, self._monotonic())
        self.stats.duplicates_dropped = self._trade_duplicates + sum(
            g.duplicates for g in self.candle_gates.values()
        )
        self.report_health(self._monotonic())

    async def _server_now(self) -> int:
        assert self.history is not None
        ccxt = ccxt_async()
        try:
            server = await self.history.server_time_ms()
        except (ccxt.NetworkError, ccxt.ExchangeError):
            server = None
        return server if server is not None else int(self._wall().timestamp() * 1000)

    async def _poll_symbol(self, symbol: str, server_now: int) -> None:
        assert self.history is not None
        if self.config.trades:
            cursor = self.trade_cursors[symbol]
            rows = await self.history.trades_since(symbol, cursor.since_ms)
            self.stats.messages += len(rows)
            fresh = cursor.admit(rows)
            self._trade_duplicates += len(rows) - len(fresh)
            self.outbox.put_trades(symbol, fresh)
        for timeframe in self.config.timeframes:
            await self._poll_candles(symbol, timeframe, server_now)

    async def _poll_candles(self, symbol: str, timeframe: Timeframe, server_now: int) -> None:
        assert self.history is not None
        gate = self.candle_gates[(symbol, timeframe)]
        since = None if gate.last is None else gate.last + gate.step
        rows = await self.history.closed_candles(symbol, timeframe, since, None, server_now)
        self.stats.messages += len(rows)
        now = self._monotonic()
        released = []
        for row in rows:
            released += gate.offer(row[0], row, now)
        if gate.held:  # REST is the source of truth: a hole in its answer is genuine
            gate.start_backfill()
            outcome = gate.finish_backfill([], now, bounded=True)
            released += outcome.released
            self.gap_skipped(symbol, timeframe, outcome.skipped)
        self.stats.duplicates_dropped = self._trade_duplicates + sum(
            g.duplicates for g in self.candle_gates.values()
        )
        self.outbox.put_candles(symbol, timeframe, released)
