"""Alpaca's and Polygon's market-data WebSockets as a live Bytewax source, gap-free.

Stock tickers on both; crypto pairs (``BTC/USD``) on Alpaca's crypto stream
(``/v1beta3/crypto/us``, the same messages); FX pairs (``EUR/USD``) on Polygon's forex cluster
(quotes ``C.``, minute aggregates ``CA.``; REST ticker ``C:EURUSD``). A
:class:`VendorStreamSource` runs one :class:`VendorStreamSession` per stream (the vendors
allow one data connection per key and cluster, so all symbols of a cluster share it) in the
background-feed partition of :mod:`connectors.feed.partition`. The session speaks the
documented frames with ``websockets`` (:mod:`.stream_messages`): it waits for the greeting,
authenticates, subscribes trades, quotes and/or minute bars, then reads. On top of that the
same machinery as the Binance source:

* minute bars go through a :class:`~connectors.feed.gate.SequenceGate` keyed by open time: a
  missing minute (a lost frame, a disconnect) is fetched over REST through the vendor's SDK
  (:mod:`connectors.market_data.providers`) once it outlives the reorder window, and released
  in order exactly once; a hole REST has nothing for while the symbol's market was closed is no
  finding;
* trades carry no consecutive ids on these feeds, so after every (re)connect — and after a
  malformed frame, which may have carried trades — live trades are held until REST has
  returned the trades between the last one released and the first one held; a
  :class:`~connectors.feed.cursor.TimeCursor` (time, id) releases each trade once;
* quotes become :class:`~schemas.market.BookTop` (conflated) and, for ``quote_candles``
  symbols, 1-minute candles of the mid (:mod:`connectors.feed.quote_bars`);
* reconnects with backoff and jitter, and after ``reconnect_after_silence`` while a market is
  open; per-symbol health whose status is ``closed`` while the symbol's calendar is closed;
* a frame that cannot be decoded is dead-lettered with its raw text; keys are never printed.

The official stream classes (alpaca-py's ``StockDataStream``, massive's ``WebSocketClient``)
can be pointed at a loopback URL, but they own their reconnect loop, swallow undecodable frames
into a log line and do not say when they reconnected — the moments this source must hold live
data and fetch over REST — so they serve here as conformance checks of the loopback server.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgpack
import orjson
from websockets.asyncio.client import ClientConnection

from connectors.feed.backoff import BackoffPolicy
from connectors.feed.cursor import FeedCursor, TimeCursor, TradeRow
from connectors.feed.frames import Ending, FrameError
from connectors.feed.gate import SequenceGate
from connectors.feed.health import utc_now
from connectors.feed.outbox import Outbox
from connectors.feed.partition import SessionPartition
from connectors.feed.session import StreamSession
from connectors.feed.source import GroupedFeedSource
from connectors.market_data.credentials import ProviderCredentials
from connectors.market_data.providers import MarketDataProvider, make_provider
from connectors.market_data.stream_messages import (
    Control,
    StreamBar,
    StreamMessage,
    StreamQuote,
    StreamTrade,
    decode_alpaca,
    decode_polygon,
    trade_key,
)
from schemas.common import Timeframe, ns_to_datetime

log = logging.getLogger(__name__)

CHANNELS = ("trades", "quotes", "bars")
_WS_URLS = {"alpaca": "wss://stream.data.alpaca.markets", "polygon": "wss://socket.polygon.io"}
_MINUTE_MS = 60_000
_NS_PER_MS = 1_000_000


class VendorAuthError(RuntimeError):
    """The vendor refused the key (the message is the vendor's, never the key)."""


@dataclass(frozen=True)
class VendorStreamConfig:
    """What to stream from ``vendor`` (``alpaca`` or ``polygon``) and how (times in seconds).

    * ``channels``: any of ``trades``, ``quotes``, ``bars`` (closed 1-minute bars);
    * ``feed``: Alpaca's data feed (``iex`` free, ``sip`` paid): the stream path ``/v2/{feed}``;
    * ``encoding``: Alpaca frames as ``json`` or ``msgpack``; Polygon is JSON only;
    * ``ws_url``/``rest_url``: the vendor's hosts, or a local stand-in (the loopback server);
    * ``calendars``: symbol → market calendar (``XNYS`` …): closed hours are no finding;
    * ``quote_candles``: symbols whose 1-minute candles are built from quotes at ``quote_price``.

    >>> keys = ProviderCredentials(provider="polygon", key="k")
    >>> VendorStreamConfig("polygon", ("AAPL",), keys, encoding="msgpack")
    Traceback (most recent call last):
    ...
    ValueError: encoding msgpack is Alpaca's; polygon sends JSON
    """

    vendor: str
    symbols: tuple[str, ...]
    credentials: ProviderCredentials = field(repr=False)
    channels: tuple[str, ...] = ("trades",)
    feed: str = "iex"
    encoding: str = "json"
    ws_url: str | None = None
    rest_url: str | None = None
    requests_per_minute: float | None = None
    calendars: dict[str, str] = field(default_factory=dict)
    quote_candles: tuple[str, ...] = ()
    quote_price: str = "mid"
    reconnect_after_silence: float = 60.0
    stale_after: float = 30.0
    heartbeat_every: float = 5.0
    reorder_window: float = 2.0
    open_timeout: float = 10.0
    tick: float = 0.05
    emit_health: bool = True
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)

    def __post_init__(self) -> None:
        if self.vendor not in _WS_URLS:
            raise ValueError(f"vendor must be alpaca or polygon, got {self.vendor!r}")
        if not self.symbols:
            raise ValueError("symbols must name at least one ticker, e.g. ('AAPL',)")
        unknown = [c for c in self.channels if c not in CHANNELS]
        if unknown or not self.channels:
            raise ValueError(f"channels must be some of {CHANNELS}, got {self.channels}")
        if self.encoding not in ("json", "msgpack"):
            raise ValueError(f"encoding must be json or msgpack, got {self.encoding!r}")
        if self.encoding == "msgpack" and self.vendor != "alpaca":
            raise ValueError(f"encoding msgpack is Alpaca's; {self.vendor} sends JSON")
        if self.quote_candles and "quotes" not in self.channels:
            raise ValueError("quote_candles need the quotes channel")
        if self.quote_candles and "bars" in self.channels:
            raise ValueError("quote_candles and the bars channel would both make 1m candles")
        extra = sorted(set(self.quote_candles) - set(self.symbols))
        if extra:
            raise ValueError(f"quote_candles names symbols the feed does not stream: {extra}")
        for name in ("reconnect_after_silence", "stale_after", "heartbeat_every", "tick",
                     "open_timeout"):  # fmt: skip
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {getattr(self, name)}")
        pairs = [s for s in self.symbols if "/" in s]
        if pairs and self.vendor == "polygon" and not self.channels_for("forex"):
            raise ValueError(f"{pairs}: forex has no trades on Polygon; stream quotes or bars")

    def cluster(self, symbol: str) -> str:
        """The stream a symbol is on: ``stocks``; a pair is Alpaca ``crypto``, Polygon ``forex``."""
        if "/" not in symbol:
            return "stocks"
        return "crypto" if self.vendor == "alpaca" else "forex"

    def channels_for(self, cluster: str) -> tuple[str, ...]:
        return tuple(c for c in self.channels if cluster != "forex" or c != "trades")

    def stream_url(self, cluster: str) -> str:
        base = (self.ws_url or _WS_URLS[self.vendor]).rstrip("/")
        if self.vendor == "polygon":
            return f"{base}/{cluster}"
        return f"{base}/v1beta3/crypto/us" if cluster == "crypto" else f"{base}/v2/{self.feed}"

    def rest_symbol(self, symbol: str) -> str:
        """The REST ticker: Polygon names the pair ``EUR/USD`` ``C:EURUSD``."""
        return f"C:{symbol.replace('/', '')}" if self.cluster(symbol) == "forex" else symbol

    @property
    def msgpacked(self) -> bool:
        return self.encoding == "msgpack"

    def auth_frame(self) -> dict[str, Any]:
        keys = self.credentials
        if self.vendor == "alpaca":
            secret = keys.secret.get_secret_value() if keys.secret else ""
            return {"action": "auth", "key": keys.key.get_secret_value(), "secret": secret}
        return {"action": "auth", "params": keys.key.get_secret_value()}

    def subscribe_frame(self, symbols: tuple[str, ...]) -> dict[str, Any]:
        """The subscription of ``symbols`` (all on one cluster) on every channel.

        >>> keys = ProviderCredentials(provider="polygon", key="k")
        >>> config = VendorStreamConfig("polygon", ("AAPL",), keys, ("trades", "bars"))
        >>> config.subscribe_frame(("AAPL", "MSFT"))
        {'action': 'subscribe', 'params': 'T.AAPL,T.MSFT,AM.AAPL,AM.MSFT'}
        >>> config.subscribe_frame(("EUR/USD",))
        {'action': 'subscribe', 'params': 'CA.EUR/USD'}
        """
        cluster = self.cluster(symbols[0])
        channels = self.channels_for(cluster)
        if self.vendor == "alpaca":
            return {"action": "subscribe", **{c: list(symbols) for c in channels}}
        prefixes = {"trades": "T", "quotes": "Q", "bars": "AM"}
        if cluster == "forex":
            prefixes = {"quotes": "C", "bars": "CA"}
        params = [f"{prefixes[c]}.{s}" for c in channels for s in symbols]
        return {"action": "subscribe", "params": ",".join(params)}

    def encode(self, frame: dict[str, Any]) -> str | bytes:
        return msgpack.packb(frame) if self.msgpacked else orjson.dumps(frame).decode()

    def decode(self, raw: str | bytes) -> list[StreamMessage]:
        if self.vendor == "alpaca":
            return decode_alpaca(raw, msgpacked=self.msgpacked)
        return decode_polygon(raw)


@dataclass(frozen=True, slots=True)
class _Fetch:
    symbol: str
    kind: str  # "bars" or "trades"
    first: int  # bars: open ms; trades: ns
    last: int


class VendorStreamSession(StreamSession):
    """The background feed of one partition; :meth:`run` is its main coroutine."""

    def __init__(
        self,
        config: VendorStreamConfig,
        symbols: tuple[str, ...],
        outbox: Outbox,
        resume: FeedCursor | None = None,
        *,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = utc_now,
        provider_factory: Callable[[], MarketDataProvider] | None = None,
    ) -> None:
        resume = resume or FeedCursor()
        source = f"{config.vendor}-stream"
        self.cluster = config.cluster(symbols[0])
        headers = {"Content-Type": "application/msgpack"} if config.msgpacked else None
        super().__init__(
            source, config, symbols, outbox, resume,
            url=config.stream_url(self.cluster), label=f"{source} feed", headers=headers,
            rng=rng, monotonic=monotonic, wall=wall,
        )  # fmt: skip
        self.config = config
        self._provider_factory = provider_factory or (
            lambda: make_provider(config.vendor, config.credentials, base_url=config.rest_url,
                                  requests_per_minute=config.requests_per_minute)
        )  # fmt: skip
        channels = config.channels_for(self.cluster)
        self.candle_gates: dict[str, SequenceGate] = {}
        if "bars" in channels:
            self.candle_gates = {
                s: SequenceGate(_MINUTE_MS, resume.last_candle_open(s, "1m"), config.reorder_window)
                for s in symbols
            }
        self.trade_cursors: dict[str, TimeCursor] = {}
        if "trades" in channels:
            self.trade_cursors = {s: TimeCursor(resume.trades.get(s)) for s in symbols}
        self._resyncing: set[str] = set()
        self._held: dict[str, list[TradeRow]] = {}
        # quotes stamped by the vendor may arrive a little late
        self.quote_grace_ms = int(config.reorder_window * 1000)
        self._controls: list[Control] = []
        self._queue: asyncio.Queue[_Fetch] = asyncio.Queue()
        self._queued: set[tuple[str, str]] = set()
        self.provider: MarketDataProvider | None = None

    # --- main loop ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Connect, stream and reconnect until ``stop`` is set (a refused key ends it)."""
        self.provider = await asyncio.to_thread(self._provider_factory)
        await self.stream(stop, self._fetcher())

    async def handshake(self, ws: ClientConnection) -> None:
        cfg = self.config
        await self._expect(ws, "connected")
        await ws.send(cfg.encode(cfg.auth_frame()))
        await self._expect(ws, "authenticated")
        await ws.send(cfg.encode(cfg.subscribe_frame(self.symbols)))
        await self._expect(ws, "subscribed")

    def subscribed(self) -> None:
        self._resync_trades()  # trades may have happened while we were away

    def due_ending(self, now: float, opened: float) -> Ending | None:
        if self.silent(now) and any(self.health.market_open(s) for s in self.symbols):
            return Ending.SILENT  # a closed market is silent by nature
        return None

    async def _expect(self, ws: ClientConnection, kind: str) -> None:
        """Read frames until the control message ``kind`` (a refused key raises)."""
        deadline = self._monotonic() + self.config.open_timeout
        while True:
            for control in self._controls:
                if control.kind == "auth_failed":
                    raise VendorAuthError(f"{self.config.vendor} refused the key: {control.detail}")
            if any(c.kind == kind for c in self._controls):
                self._controls.clear()
                return
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.config.vendor}: no {kind!r} message")
            self._handle(await asyncio.wait_for(ws.recv(), remaining))

    # --- frames -------------------------------------------------------------------------------
    def frame(self, raw: str | bytes) -> Ending | None:
        self._handle(raw)
        self._controls.clear()  # acknowledgements after the handshake need no answer
        return None

    def _handle(self, raw: str | bytes) -> None:
        now = self._seen_frame()
        try:
            messages = self.config.decode(raw)
        except FrameError as exc:
            self._dead_letter(None, exc.reason, str(exc), raw)
            self._resync_trades()  # the frame may have carried trades: fetch them over REST
            return
        for message in messages:
            if isinstance(message, Control):
                self._controls.append(message)
                if message.kind == "error":
                    self._dead_letter(None, "vendor_error", message.detail, raw)
                continue
            symbol = message.symbol
            if symbol not in self.symbols:
                detail = f"{type(message).__name__} for {symbol!r}, which this feed did not ask for"
                self._dead_letter(symbol, "unexpected_symbol", detail, raw)
                continue
            self.health.message(symbol, now)
            if isinstance(message, StreamTrade):
                self._on_trade(message)
            elif isinstance(message, StreamBar):
                self._on_bar(message, now)
            else:
                self._on_quote(message, raw)

    def _on_trade(self, trade: StreamTrade) -> None:
        ts_ms = trade.ts_ns // _NS_PER_MS
        self.server_now_ms = max(self.server_now_ms, ts_ms)
        cursor = self.trade_cursors.get(trade.symbol)
        if cursor is None:
            return  # not subscribed: the vendor echoed another channel
        row: TradeRow = (trade.key, ts_ms, trade.price, trade.size, trade.key, 0)
        if trade.symbol in self._resyncing:
            self._held.setdefault(trade.symbol, []).append(row)
            key = (trade.symbol, "trades")
            if key not in self._queued:
                assert cursor.since_ms is not None
                first = cursor.since_ms * _NS_PER_MS
                self._enqueue(_Fetch(trade.symbol, "trades", first, trade.ts_ns))
            return
        self.outbox.put_trades(trade.symbol, cursor.admit([row]))

    def _on_bar(self, bar: StreamBar, now: float) -> None:
        self.server_now_ms = max(self.server_now_ms, bar.open_ms + _MINUTE_MS)
        gate = self.candle_gates.get(bar.symbol)
        if gate is None:
            return
        row = (bar.open_ms, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trades)
        self.outbox.put_candles(bar.symbol, Timeframe.M1, gate.offer(bar.open_ms, row, now))

    def _on_quote(self, quote: StreamQuote, raw: str | bytes) -> None:
        prices = (quote.bid, quote.ask, quote.bid_size, quote.ask_size)
        ts_ms = quote.ts_ns // _NS_PER_MS
        self.put_quote(raw, quote.symbol, ns_to_datetime(quote.ts_ns), ts_ms, prices)

    # --- gaps ---------------------------------------------------------------------------------
    def _resync_trades(self) -> None:
        """Hold each symbol's live trades until REST has returned what came before them."""
        for symbol, cursor in self.trade_cursors.items():
            if cursor.since_ms is not None:
                self._resyncing.add(symbol)

    def _enqueue(self, request: _Fetch) -> None:
        self._queued.add((request.symbol, request.kind))
        self._queue.put_nowait(request)

    def periodic(self, now: float) -> None:
        """Overdue bar holes → REST; catching-up flags."""
        for symbol, gate in self.candle_gates.items():
            self.outbox.put_candles(symbol, Timeframe.M1, gate.poll(now))
            hole = None if (symbol, "bars") in self._queued else gate.missing(now)
            if hole is not None and hole.last is not None:
                gate.start_backfill()
                self._enqueue(_Fetch(symbol, "bars", hole.first, hole.last))
        self.stats.duplicates_dropped = sum(g.duplicates for g in self.candle_gates.values())
        for symbol in self.symbols:
            gate = self.candle_gates.get(symbol)
            held = symbol in self._resyncing and symbol in self._held
            self.health.catching_up(symbol, held or (gate is not None and gate.backfilling))

    async def _fetcher(self) -> None:
        while True:
            request = await self._queue.get()
            try:
                rows = await asyncio.to_thread(self._fetch, request)
            except Exception as exc:  # the SDKs raise their own types: retry later
                log.warning("%s backfill %s failed: %r", self.source, request, exc)
                self.health.note(request.symbol, f"backfill failed: {type(exc).__name__}")
                if request.kind == "bars":
                    self.candle_gates[request.symbol].abandon_backfill(self._monotonic())
                    self._queued.discard((request.symbol, request.kind))
                else:  # keep holding the trades; ask again after the longest backoff
                    delay = self.config.backoff.maximum
                    asyncio.get_running_loop().call_later(delay, self._queue.put_nowait, request)
                continue
            if request.kind == "bars":
                self._apply_bars(request, rows)
            else:
                self._apply_trades(request.symbol, rows)
            self._queued.discard((request.symbol, request.kind))

    def _fetch(self, request: _Fetch) -> list[Any]:
        """Blocking SDK calls (run in a worker thread)."""
        assert self.provider is not None
        symbol = self.config.rest_symbol(request.symbol)
        if request.kind == "bars":
            return self.provider.bars(symbol, Timeframe.M1, request.first, request.last)
        rows: list[TradeRow] = []
        for page in self.provider.trades(symbol, request.first, request.last):
            for ts_ns, venue_id, price, amount, _ in page:
                key = trade_key(venue_id)
                rows.append((key, ts_ns // _NS_PER_MS, price, amount, key, 0))
        return rows

    def _apply_bars(self, request: _Fetch, rows: list[Any]) -> None:
        gate = self.candle_gates[request.symbol]
        now = self._monotonic()
        outcome = gate.finish_backfill([(r[0], r) for r in rows], now)
        self.outbox.put_candles(request.symbol, Timeframe.M1, outcome.released)
        self.stats.rows_backfilled += outcome.filled
        self.stats.gaps_filled += outcome.filled > 0
        self.gap_skipped(request.symbol, Timeframe.M1, outcome.skipped)

    def _apply_trades(self, symbol: str, rows: list[TradeRow]) -> None:
        held = self._held.pop(symbol, [])
        live = {(r[1], r[0]) for r in held}
        fresh = self.trade_cursors[symbol].admit(rows + held)
        backfilled = sum((r[1], r[0]) not in live for r in fresh)
        self._resyncing.discard(symbol)
        self.outbox.put_trades(symbol, fresh)
        self.stats.rows_backfilled += backfilled
        self.stats.gaps_filled += backfilled > 0

    def _raw_text(self, raw: Any) -> str:
        """A frame as text; a binary (msgpack) one that is not ASCII as hex."""
        if isinstance(raw, bytes):
            return raw.decode("utf-8") if raw.isascii() else "msgpack:" + raw.hex()
        return str(raw)


class VendorStreamSource(GroupedFeedSource):
    """Live Alpaca or Polygon market data (see the module docstring for what it emits).

    One partition per stream (the vendors allow one connection per key and cluster: Polygon's
    stocks and forex pairs are two); ``run_for`` seconds or ``max_trades`` end them;
    ``provider_factory`` replaces the REST client (tests).
    """

    def __init__(
        self,
        config: VendorStreamConfig,
        *,
        provider_factory: Callable[[], MarketDataProvider] | None = None,
        **options: Any,
    ) -> None:
        self.config = config
        self._provider_factory = provider_factory
        clusters: dict[str, list[str]] = {}
        for symbol in config.symbols:
            clusters.setdefault(config.cluster(symbol), []).append(symbol)
        groups = [tuple(symbols) for symbols in clusters.values()]
        super().__init__(f"{config.vendor}-stream", groups, **options)

    def build_feed(
        self,
        part: str,
        symbols: tuple[str, ...],
        outbox: Outbox,
        resume: FeedCursor,
        rng: random.Random,
    ) -> SessionPartition:
        session = VendorStreamSession(
            self.config, symbols, outbox, resume, rng=rng, wall=self._wall,
            provider_factory=self._provider_factory,
        )  # fmt: skip
        return SessionPartition(part, session, **self.bounds)
