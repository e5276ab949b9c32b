"""One Binance WebSocket connection group, kept alive, gap-free and in order.

A :class:`BinanceSession` serves one partition (a group of symbols on one connection at a time):

* connects to ``<ws_url>/stream`` and subscribes with paced SUBSCRIBE frames;
* parses every frame strictly (:mod:`connectors.binance.messages`); a bad one is dead-lettered;
* passes trades (key = trade id) and closed klines (key = open time) through a
  :class:`~connectors.feed.gate.SequenceGate` each, so data is released in order, exactly once;
* on every (re)connect holds live data, catches up over REST from the last released key through
  ccxt, then releases REST and held live data merged; a hole seen while live (a lost or corrupt
  frame) is fetched the same way once it outlives the reorder window;
* reconnects with exponential backoff and jitter; rotates the connection before the 24-hour cut
  and on ``serverShutdown``; reconnects when the connection has gone silent;
* reports per-symbol health (:class:`~connectors.feed.health.FeedHealth`) and counters.

Pings are answered by the websockets protocol layer with the ping's payload, as Binance requires.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection

from connectors.binance.config import BinanceConfig
from connectors.binance.messages import (
    AggTradeEvent,
    BookTickerEvent,
    ControlReply,
    FrameError,
    KlineEvent,
    ServerShutdown,
    StreamEvent,
    TradeEvent,
    decode_frame,
)
from connectors.binance.streams import FramePacer, market_id, subscribe_frames
from connectors.feed.cursor import FeedCursor, TradeRow
from connectors.feed.frames import Ending
from connectors.feed.gate import Hole, SequenceGate
from connectors.feed.health import utc_now
from connectors.feed.outbox import Outbox
from connectors.feed.rest import ccxt_async, make_exchange
from connectors.feed.session import StreamSession
from schemas.common import Timeframe

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Backfill:
    symbol: str
    timeframe: Timeframe | None  # None: trades
    hole: Hole

    @property
    def gate_key(self) -> tuple[str, Timeframe | None]:
        return (self.symbol, self.timeframe)


class BinanceSession(StreamSession):
    """The background feed of one partition; :meth:`run` is its main coroutine."""

    def __init__(
        self,
        config: BinanceConfig,
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
            config.source_name, config, symbols, outbox, resume,
            url=f"{config.ws_url.rstrip('/')}/stream", label=f"binance feed {symbols}",
            rng=rng, monotonic=monotonic, wall=wall,
        )  # fmt: skip
        self.config = config
        self._exchange_factory = exchange_factory or (
            lambda: make_exchange("binance", rest_url=config.rest_url, api_key=config.api_key)
        )
        window = config.reorder_window
        self.by_id = {market_id(s): s for s in symbols}
        self.trade_gates: dict[str, SequenceGate] = {}
        if config.trade_stream:
            self.trade_gates = {
                s: SequenceGate(1, resume.last_trade_key(s), window) for s in symbols
            }
        self.candle_gates: dict[tuple[str, Timeframe], SequenceGate] = {
            (s, tf): SequenceGate(tf.seconds * 1000, resume.last_candle_open(s, tf.value), window)
            for s in symbols
            for tf in config.timeframes
        }
        # A live session never re-emits: a resume opens a new one, named by its start.
        self._incarnation = self._wall().strftime("%Y%m%dT%H%M%S.%fZ")
        self._streams = [name for s in symbols for name in config.channels.streams(s)]
        self._queue: asyncio.Queue[_Backfill] = asyncio.Queue()
        self._queued: set[tuple[str, Timeframe | None]] = set()
        self._replies: dict[int | str, str | None] = {}
        self._next_request_id = 1

    # --- main loop ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Connect, stream and reconnect until ``stop`` is set."""
        async with self.rest_history(self._exchange_factory, self.config.retry):
            await self.stream(stop, self._backfill_worker())

    async def handshake(self, ws: ClientConnection) -> None:
        for gate in self._gates():
            gate.resync()  # hold live data until REST has caught up
        await self._subscribe(ws)

    def subscribed(self) -> None:
        self._request_catch_up()

    def due_ending(self, now: float, opened: float) -> Ending | None:
        if now - opened >= self.config.max_connection_age:
            return Ending.ROTATED
        return Ending.SILENT if self.silent(now) else None

    async def _subscribe(self, ws: ClientConnection) -> None:
        pacer = FramePacer(self.config.subscribe_rate)
        frames = subscribe_frames(
            self._streams, self.config.streams_per_frame, self._next_request_id
        )
        self._next_request_id += len(frames)
        for frame in frames:
            await asyncio.sleep(pacer.delay(self._monotonic()))
            await ws.send(orjson.dumps(frame).decode())
            deadline = self._monotonic() + self.config.open_timeout
            while frame["id"] not in self._replies:
                remaining = deadline - self._monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no reply to SUBSCRIBE id {frame['id']}")
                text = await asyncio.wait_for(ws.recv(), remaining)
                self.frame(text)
            error = self._replies.pop(frame["id"])
            if error is not None:  # a configuration problem: report it, keep the other streams
                self._dead_letter(None, "subscription_rejected", error, orjson.dumps(frame))

    # --- frames -------------------------------------------------------------------------------
    def frame(self, text: str | bytes) -> Ending | None:
        now = self._seen_frame()
        try:
            frame = decode_frame(text)
        except FrameError as exc:
            self._dead_letter(self._symbol_of_stream(exc.stream), exc.reason, str(exc), text)
            return None
        if isinstance(frame, StreamEvent):
            self._on_event(frame, now, text)
        elif isinstance(frame, ControlReply):
            if frame.id is not None:
                self._replies[frame.id] = frame.error
            elif frame.error:
                self._dead_letter(None, "control_error", frame.error, text)
        elif isinstance(frame, ServerShutdown):
            return Ending.SHUTDOWN
        return None

    def _on_event(self, frame: StreamEvent, now: float, text: str | bytes) -> None:
        event = frame.event
        symbol = self._symbol_of_stream(frame.stream)
        if symbol is None or self.by_id.get(event.s) != symbol:
            self._dead_letter(
                symbol,
                "unexpected_symbol",
                f"{frame.stream}: event for {event.s!r} on a stream this feed did not ask for",
                text,
            )
            return
        self.health.message(symbol, now)
        if isinstance(event, TradeEvent | AggTradeEvent):
            self.server_now_ms = max(self.server_now_ms, event.E)
            gate = self.trade_gates.get(symbol)
            if gate is None:
                self._dead_letter(symbol, "unexpected_stream", frame.stream, text)
                return
            key = event.t if isinstance(event, TradeEvent) else event.a
            row: TradeRow = (key, event.T, event.p, event.q, key, -1 if event.m else 1)
            self.outbox.put_trades(symbol, gate.offer(key, row, now))
        elif isinstance(event, KlineEvent):
            self.server_now_ms = max(self.server_now_ms, event.E)
            if not event.k.x:
                return  # a forming candle: only closed ones enter the flow
            try:
                timeframe = Timeframe(event.k.i)
            except ValueError:
                timeframe = None
            gate = self.candle_gates.get((symbol, timeframe)) if timeframe else None
            if gate is None or timeframe is None:
                self._dead_letter(symbol, "unexpected_stream", frame.stream, text)
                return
            k = event.k
            released = gate.offer(k.t, (k.t, k.o, k.h, k.l, k.c, k.v, k.n), now)
            self.outbox.put_candles(symbol, timeframe, released)
        elif isinstance(event, BookTickerEvent):
            ts = self._wall()
            prices = (event.b, event.a, event.B, event.A)
            self.put_quote(text, symbol, ts, int(ts.timestamp() * 1000), prices)

    def _symbol_of_stream(self, stream: str | None) -> str | None:
        if not stream:
            return None
        return self.by_id.get(stream.partition("@")[0].upper())

    # --- gaps ---------------------------------------------------------------------------------
    def _gates(self) -> list[SequenceGate]:
        return [*self.trade_gates.values(), *self.candle_gates.values()]

    def _gate(self, key: tuple[str, Timeframe | None]) -> SequenceGate:
        symbol, timeframe = key
        return self.trade_gates[symbol] if timeframe is None else self.candle_gates[key]  # type: ignore[index]

    def _all_gate_keys(self) -> list[tuple[str, Timeframe | None]]:
        return [(s, None) for s in self.trade_gates] + list(self.candle_gates)

    def _request_catch_up(self) -> None:
        """After subscribing: fetch everything after the last released key, per stream."""
        for key in self._all_gate_keys():
            gate = self._gate(key)
            if key in self._queued:
                continue  # a fetch is pending already; it ends the hold when it lands
            if gate.last is not None:  # a fresh start has no position to catch up from
                self._enqueue(_Backfill(key[0], key[1], Hole(gate.last + gate.step, None)))

    def _enqueue(self, request: _Backfill) -> None:
        self._queued.add(request.gate_key)
        self._queue.put_nowait(request)

    def periodic(self, now: float) -> None:
        """Overdue holes → backfill; catching-up flags."""
        for key in self._all_gate_keys():
            gate = self._gate(key)
            self._release(key, gate.poll(now))
            if key in self._queued:
                continue
            hole = gate.missing(now)
            if hole is not None:
                gate.start_backfill()
                self._enqueue(_Backfill(key[0], key[1], hole))
        self.stats.duplicates_dropped = sum(g.duplicates for g in self._gates())
        for symbol in self.symbols:
            catching_up = any(
                self._gate(k).backfilling for k in self._all_gate_keys() if k[0] == symbol
            )
            self.health.catching_up(symbol, catching_up)

    async def _backfill_worker(self) -> None:
        ccxt = ccxt_async()
        while True:
            request = await self._queue.get()
            gate = self._gate(request.gate_key)
            try:
                rows = await self._fetch(request)
            except (ccxt.BaseError, OSError, TimeoutError) as exc:  # REST gave up after retries
                log.warning("binance backfill %s %s failed: %r", request.symbol, request.hole, exc)
                self.health.note(request.symbol, f"backfill failed: {exc!r}"[:200])
                if request.hole.last is None:  # a catch-up: keep holding, try again later
                    delay = self.config.backoff.maximum
                    asyncio.get_running_loop().call_later(delay, self._queue.put_nowait, request)
                    continue
                gate.abandon_backfill(self._monotonic())  # the hole is asked for again later
            else:
                self._apply(request, gate, rows)
            self._queued.discard(request.gate_key)

    async def _fetch(self, request: _Backfill) -> list[tuple[int, Any]]:
        assert self.history is not None
        hole = request.hole
        if request.timeframe is None:
            method = self.config.trades_method
            if method is not None:
                rows = await self.history.trades_from_id(
                    request.symbol, hole.first, hole.last, method
                )
            else:
                rows = await self.history.recent_trades(request.symbol, "publicGetTrades")
                rows = [
                    r
                    for r in rows
                    if r[0] >= hole.first and (hole.last is None or r[0] <= hole.last)
                ]
            return [(r[0], r) for r in rows]
        server_now = self.server_now_ms
        if hole.last is None:  # catching up to "now": ask the exchange what now is
            server_now = max(server_now, await self.history.server_time_ms() or 0)
        candles = await self.history.closed_candles(
            request.symbol, request.timeframe, hole.first, hole.last, server_now
        )
        return [(c[0], c) for c in candles]

    def _release(self, key: tuple[str, Timeframe | None], rows: list[Any]) -> None:
        symbol, timeframe = key
        if timeframe is None:
            self.outbox.put_trades(symbol, rows)
        else:
            self.outbox.put_candles(symbol, timeframe, rows)

    def _apply(self, request: _Backfill, gate: SequenceGate, rows: list[tuple[int, Any]]) -> None:
        now = self._monotonic()
        outcome = gate.finish_backfill(rows, now, bounded=request.hole.last is not None)
        self._release(request.gate_key, outcome.released)
        self.health.message(request.symbol, now)  # caught up to the exchange's present
        self.stats.rows_backfilled += outcome.filled
        if outcome.filled:
            self.stats.gaps_filled += 1
        self.gap_skipped(request.symbol, request.timeframe, outcome.skipped)

    # --- dead letters -------------------------------------------------------------------------
    def _occurrence(self) -> str:
        """This session's dead letter number (counted before the call)."""
        return f"live {self._incarnation} #{self.stats.dead_lettered}"
