"""What every live feed session shares: its set-up, health reports, dead letters and REST.

:class:`FeedSession` is the state of one partition's feed — the symbols, the outbox, the clocks,
the counters, per-symbol health and the open-session gap check — and the pieces each feed needs
on top of them: health records out, dead letters counted and numbered, a hole REST had nothing
for reported unless the market was closed over it, and a ccxt exchange with its REST history
(:meth:`FeedSession.rest_history`). The ccxt poller (:mod:`connectors.ccxt_source.poller`)
extends it directly.

:class:`StreamSession` adds what a WebSocket session runs (Binance, Alpaca, Polygon): the
reconnect loop of :mod:`connectors.feed.reconnect` with its helper tasks, one connection from
open to ending, the read loop (stop, silence, a subclass's own endings), quotes as
:class:`~schemas.market.BookTop` and quote candles, and the periodic tick. A subclass says how
it greets the server (:meth:`StreamSession.handshake`), what to do once subscribed, how it
handles a frame and when a connection should end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any, Protocol

import pydantic
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from connectors.feed.backoff import Backoff, BackoffPolicy
from connectors.feed.cursor import FeedCursor
from connectors.feed.frames import MAX_RAW_CHARS, PLANNED, Ending
from connectors.feed.gate import Hole
from connectors.feed.health import FeedStats, HealthMonitor
from connectors.feed.outbox import Outbox
from connectors.feed.quote_bars import QuoteCandle, QuoteMinuteBars
from connectors.feed.reconnect import cancel_all, reconnect_until_stopped
from connectors.feed.rest import RestCaller, RestHistory, RetryPolicy
from connectors.feed.session_gaps import OpenSessionGaps
from schemas.common import Timeframe, ns_to_datetime
from schemas.market import BookTop
from schemas.records import DeadLetter

log = logging.getLogger(__name__)


class FeedSettings(Protocol):
    """The settings every feed's configuration carries (times in seconds)."""

    @property
    def stale_after(self) -> float: ...
    @property
    def heartbeat_every(self) -> float: ...
    @property
    def calendars(self) -> Mapping[str, str]: ...
    @property
    def emit_health(self) -> bool: ...


class StreamSettings(FeedSettings, Protocol):
    """The settings a WebSocket feed's configuration adds."""

    @property
    def open_timeout(self) -> float: ...
    @property
    def tick(self) -> float: ...
    @property
    def reconnect_after_silence(self) -> float: ...
    @property
    def quote_candles(self) -> tuple[str, ...]: ...
    @property
    def quote_price(self) -> str: ...
    @property
    def backoff(self) -> BackoffPolicy: ...


class FeedSession:
    """One partition's feed state; ``source`` names it in health records and dead letters."""

    def __init__(
        self,
        source: str,
        settings: FeedSettings,
        symbols: tuple[str, ...],
        outbox: Outbox,
        resume: FeedCursor,
        *,
        rng: random.Random | None,
        monotonic: Callable[[], float],
        wall: Callable[[], datetime],
    ) -> None:
        self.source = source
        self.symbols = symbols
        self.outbox = outbox
        self._rng = rng or random.Random()
        self._monotonic = monotonic
        self._wall = wall
        self._emit_health = settings.emit_health
        self.stats = FeedStats()
        self.health = HealthMonitor(
            source, symbols, settings.stale_after, settings.heartbeat_every, wall,
            settings.calendars,
        )  # fmt: skip
        self.session_gaps = OpenSessionGaps(self.stats, self.health, settings.calendars, resume)
        outbox.on_candles = self.session_gaps.observe
        self.server_now_ms = 0
        self.history: RestHistory | None = None

    @contextlib.asynccontextmanager
    async def rest_history(
        self, exchange_factory: Callable[[], Any], retry: RetryPolicy
    ) -> AsyncIterator[Any]:
        """A ccxt exchange for the session's lifetime and :attr:`history` over it; closed after."""
        exchange = exchange_factory()
        caller = RestCaller(exchange, retry, self.stats, rng=self._rng)
        self.history = RestHistory(caller, self.source, self._dead_letter_row)
        try:
            yield exchange
        finally:
            await exchange.close()

    def report_health(self, now: float) -> None:
        """Heartbeats and status changes due at ``now`` into the outbox (when emitted)."""
        records = self.health.poll(now, self.stats)
        if self._emit_health:
            for record in records:
                self.outbox.put(record)

    def gap_skipped(self, symbol: str, timeframe: Timeframe | None, hole: Hole | None) -> None:
        """Count and note a hole REST had nothing for (trades: ``timeframe`` None), unless the
        symbol's market was closed over all of it (a night or weekend: nothing to find)."""
        if hole is None:
            return
        if (
            timeframe is not None
            and hole.last is not None
            and self.session_gaps.market_closed(symbol, timeframe, hole.first, hole.last)
        ):
            return
        self.stats.gaps_skipped += 1
        what = "trades" if timeframe is None else f"{timeframe.value} candles"
        self.health.note(symbol, f"gap skipped: {what} {hole}")

    def _dead_letter(self, symbol: str | None, reason: str, detail: str, raw: Any) -> None:
        self.stats.dead_lettered += 1
        when = ns_to_datetime(self.server_now_ms * 1_000_000) if self.server_now_ms else None
        self.outbox.put(
            DeadLetter(
                source=self.source,
                symbol=symbol,
                reason=reason,
                detail=detail,
                raw=self._raw_text(raw)[:MAX_RAW_CHARS],
                ts=when,
                occurrence=self._occurrence(),
            )
        )

    def _dead_letter_row(self, letter: DeadLetter) -> None:
        self.stats.dead_lettered += 1
        occurrence = self._occurrence()
        self.outbox.put(
            letter.model_copy(update={"occurrence": occurrence}) if occurrence else letter
        )

    def _raw_text(self, raw: Any) -> str:
        """A raw frame or row as dead-letter text."""
        return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)

    def _occurrence(self) -> str:
        """Where this session met the dead letter just counted ("": nothing to add)."""
        return ""


class StreamSession(FeedSession, ABC):
    """A WebSocket feed on ``url``: :meth:`run` connects, streams and reconnects until stopped."""

    def __init__(
        self,
        source: str,
        settings: StreamSettings,
        symbols: tuple[str, ...],
        outbox: Outbox,
        resume: FeedCursor,
        *,
        url: str,
        label: str,
        headers: Mapping[str, str] | None = None,
        rng: random.Random | None,
        monotonic: Callable[[], float],
        wall: Callable[[], datetime],
    ) -> None:
        super().__init__(
            source, settings, symbols, outbox, resume, rng=rng, monotonic=monotonic, wall=wall
        )
        self.url = url
        self.label = label
        self._headers = headers
        self._open_timeout = settings.open_timeout
        self._tick = settings.tick
        self._silence = settings.reconnect_after_silence
        self.quote_symbols = frozenset(settings.quote_candles)
        self.quote_bars = QuoteMinuteBars(settings.quote_price)  # type: ignore[arg-type]
        self.quote_grace_ms = 0  # how long a quote minute stays open after the wall clock
        self.backoff = Backoff(settings.backoff, self._rng)
        self.connections_opened = 0
        self.subscriptions = 0  # connections whose handshake completed
        self.endings: list[Ending] = []
        self._last_frame = 0.0

    # --- hooks --------------------------------------------------------------------------------
    @abstractmethod
    async def handshake(self, ws: ClientConnection) -> None:
        """Greet, authenticate and/or subscribe on a fresh connection (raise to end it)."""

    @abstractmethod
    def subscribed(self) -> None:
        """The handshake completed: ask REST for what may have been missed while away."""

    @abstractmethod
    def frame(self, raw: str | bytes) -> Ending | None:
        """Handle one frame read after the handshake; an ending closes the connection."""

    @abstractmethod
    def due_ending(self, now: float, opened: float) -> Ending | None:
        """An ending due at ``now`` for a connection opened at ``opened`` (besides a stop)."""

    @abstractmethod
    def periodic(self, now: float) -> None:
        """The session's own work each tick (overdue holes, catching-up flags)."""

    # --- main loop ----------------------------------------------------------------------------
    async def stream(self, stop: asyncio.Event, *helpers: Coroutine[Any, Any, None]) -> None:
        """Connect, stream and reconnect until ``stop`` is set, with ``helpers`` and the tick
        running alongside (cancelled at the end)."""
        tasks = [asyncio.create_task(h) for h in (*helpers, self._ticker(stop))]
        try:
            await reconnect_until_stopped(
                self._connection,
                stop,
                endings=self.endings,
                on_disconnect=lambda: self.health.set_connected(False, self._monotonic()),
                backoff=self.backoff,
                label=self.label,
            )
        finally:
            await cancel_all(tasks)

    async def _connection(self, stop: asyncio.Event, previous: Ending | None) -> Ending:
        try:
            async with connect(
                self.url, additional_headers=self._headers, open_timeout=self._open_timeout,
                close_timeout=2, max_queue=1024, compression=None,
            ) as ws:  # fmt: skip
                opened = self._monotonic()
                self._on_open(previous, opened)
                await self.handshake(ws)
                self.subscriptions += 1
                self.backoff.reset()
                self.subscribed()
                return await self._read(ws, stop, opened)
        except (OSError, TimeoutError, WebSocketException) as exc:
            log.warning("%s: connection failed: %r", self.label, exc)
            return Ending.CLOSED if isinstance(exc, ConnectionClosed) else Ending.FAILED

    def _on_open(self, previous: Ending | None, now: float) -> None:
        if self.connections_opened:
            if previous in PLANNED:
                self.stats.rotations += 1
            else:
                self.stats.reconnects += 1
        self.connections_opened += 1
        self._last_frame = now
        self.health.set_connected(True, now)

    async def _read(self, ws: ClientConnection, stop: asyncio.Event, opened: float) -> Ending:
        while True:
            ending = Ending.STOPPED if stop.is_set() else self.due_ending(self._monotonic(), opened)
            if ending is not None:
                await self._close(ws, ending.value)
                return ending
            try:
                raw = await asyncio.wait_for(ws.recv(), self._tick)
            except TimeoutError:
                continue
            except ConnectionClosed:
                return Ending.CLOSED
            ending = self.frame(raw)
            if ending is not None:  # the server said it is going away
                await self._close(ws, "server shutdown")
                return ending

    @staticmethod
    async def _close(ws: ClientConnection, reason: str) -> None:
        with contextlib.suppress(Exception):
            await ws.close(1000, reason)

    def silent(self, now: float) -> bool:
        """Nothing has been received for ``reconnect_after_silence``."""
        return now - self._last_frame >= self._silence

    def _seen_frame(self) -> float:
        """A frame arrived: the connection is alive (returns now)."""
        now = self._monotonic()
        self._last_frame = now
        self.stats.messages += 1
        return now

    # --- quotes -------------------------------------------------------------------------------
    def put_quote(
        self,
        raw: Any,
        symbol: str,
        ts: datetime,
        ts_ms: int,
        prices: tuple[float, float, float, float],
    ) -> None:
        """A quote (bid, ask, bid size, ask size) as a :class:`BookTop` (an invalid one is
        dead-lettered), and into its symbol's quote candles at ``ts_ms``."""
        bid, ask, bid_size, ask_size = prices
        try:
            top = BookTop(symbol=symbol, ts=ts, bid=bid, ask=ask, bid_size=bid_size,
                          ask_size=ask_size, source=self.source)  # fmt: skip
        except pydantic.ValidationError as exc:
            detail = "; ".join(e["msg"] for e in exc.errors())
            self._dead_letter(symbol, "invalid_quote", detail, raw)
            return
        self.outbox.put_quote(top)
        if symbol in self.quote_symbols:
            self._put_quote_candles(symbol, self.quote_bars.add(symbol, ts_ms, bid, ask))

    def _put_quote_candles(self, symbol: str, closed: list[QuoteCandle]) -> None:
        rows = [row for row, _ in closed]
        self.outbox.put_candles(symbol, Timeframe.M1, rows, [spread for _, spread in closed])

    # --- periodic work ------------------------------------------------------------------------
    async def _ticker(self, stop: asyncio.Event) -> None:
        """Every tick: the session's own work, closed quote minutes, health records."""
        while not stop.is_set():
            now = self._monotonic()
            self.periodic(now)
            if self.quote_symbols:
                wall_ms = int(self._wall().timestamp() * 1000) - self.quote_grace_ms
                for symbol, closed in self.quote_bars.flush(wall_ms):
                    self._put_quote_candles(symbol, closed)
            self.report_health(now)
            await asyncio.sleep(self._tick)
