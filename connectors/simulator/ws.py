"""The simulator's WebSocket side: Binance combined/raw streams fed from the tapes.

Runs inside the simulator's event loop only. One :class:`StreamHub` owns the publishing cursors
(what has been published so far, per market and stream kind) and every client connection; each
connection has its own outgoing queue and sender task, so a slow client never stalls the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from connectors.simulator import payloads
from connectors.simulator.catalogue import Market
from connectors.simulator.clock import SimClock
from connectors.simulator.faults import Faults
from connectors.simulator.payloads import KLINE_INTERVALS_MS
from connectors.simulator.streams import StreamName
from connectors.simulator.tape import MS_PER_MINUTE, Klines


@dataclass(frozen=True, slots=True)
class HubSettings:
    """Connection rules, Binance's by default (times in seconds)."""

    ping_interval: float | None = 20.0
    pong_timeout: float = 60.0
    max_connection_age: float | None = 24 * 3600.0
    max_streams: int = 1024
    max_incoming_per_second: int = 5


@dataclass(slots=True)
class HubStats:
    """Counters for tests and demos (written by the loop thread, read from anywhere)."""

    connections_opened: int = 0
    connections_open: int = 0
    connections_refused: int = 0
    control_messages: int = 0
    rate_limit_closes: int = 0
    frames_sent: int = 0
    pings_sent: int = 0
    pongs_matched: int = 0
    paths: list[str] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class _Client:
    ws: ServerConnection
    combined: bool
    streams: set[str]
    opened: float
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    hold: list[str] = field(default_factory=list)
    stalled: bool = False
    incoming: deque[float] = field(default_factory=deque)


@dataclass(slots=True)
class _Cursor:
    """What has been published for one market."""

    trades: int
    aggregates: int
    quotes: int
    bars: int
    kline_open: dict[str, int]


class StreamHub:
    """Publishes due events to subscribed clients and answers their control messages."""

    def __init__(
        self,
        markets: dict[str, Market],
        clock: SimClock,
        faults: Faults,
        settings: HubSettings | None = None,
    ) -> None:
        self.markets = markets
        self.clock = clock
        self.faults = faults
        self.settings = settings or HubSettings()
        self.stats = HubStats()
        self._clients: set[_Client] = set()
        now = clock.now_ms()
        self._cursors = {mid: self._cursor_at(m, now) for mid, m in markets.items()}
        self._tick_lock = asyncio.Lock()

    @staticmethod
    def _cursor_at(market: Market, now: int) -> _Cursor:
        trades = market.trades
        return _Cursor(
            trades=trades.trades.count_at_or_before(now) if trades else 0,
            aggregates=trades.aggregates.count_at_or_before(now) if trades else 0,
            quotes=market.quotes.count_at_or_before(now) if market.quotes else 0,
            bars=market.bars.count_at_or_before(now - MS_PER_MINUTE) if market.bars else 0,
            kline_open={i: now - now % tf for i, tf in KLINE_INTERVALS_MS.items()},
        )

    # --- publishing ---------------------------------------------------------------------------
    async def tick(self) -> int:
        """Publish everything due at the clock's current time; returns the frames queued."""
        async with self._tick_lock:
            now = self.clock.now_ms()
            wanted = set().union(*(c.streams for c in self._clients)) if self._clients else set()
            events: list[tuple[str, bytes]] = []
            for market_id, market in self.markets.items():
                self._publish_market(market, self._cursors[market_id], now, wanted, events)
            return self._dispatch(events)

    def _publish_market(
        self,
        market: Market,
        cursor: _Cursor,
        now: int,
        wanted: set[str],
        events: list[tuple[str, bytes]],
    ) -> None:
        prefix = market.market_id.lower()
        fresh = False
        if market.trades is not None:
            g1 = market.trades.trades.count_at_or_before(now)
            fresh = g1 > cursor.trades
            if fresh and f"{prefix}@trade" in wanted:
                events += self._trade_events(market, cursor.trades, g1, now)
            cursor.trades = g1
            a1 = market.trades.aggregates.count_at_or_before(now)
            if a1 > cursor.aggregates and f"{prefix}@aggTrade" in wanted:
                events += self._aggregate_events(market, cursor.aggregates, a1, now)
            cursor.aggregates = max(cursor.aggregates, a1)
        if market.quotes is not None:
            q1 = market.quotes.count_at_or_before(now)
            if q1 > cursor.quotes and f"{prefix}@bookTicker" in wanted:
                events += self._quote_events(market, cursor.quotes, q1)
            cursor.quotes = max(cursor.quotes, q1)
        if market.bars is not None:
            b1 = market.bars.count_at_or_before(now - MS_PER_MINUTE)
            fresh = fresh or b1 > cursor.bars
            cursor.bars = b1
        for interval, tf in KLINE_INTERVALS_MS.items():
            stream = f"{prefix}@kline_{interval}"
            forming = cursor.kline_open[interval]
            current = now - now % tf
            if current > forming and stream in wanted:  # buckets that closed since last tick
                closed = market.klines(tf, forming, (current - forming) // tf, now)
                events += self._kline_events(market, interval, closed, now, closed=True)
            cursor.kline_open[interval] = max(forming, current)
            if fresh and stream in wanted:  # the forming bucket, updated
                partial = market.klines(tf, current, 1, now)
                events += self._kline_events(market, interval, partial, now, closed=False)

    @staticmethod
    def _trade_events(market: Market, g0: int, g1: int, now: int) -> list[tuple[str, bytes]]:
        tape = market.trades
        assert tape is not None
        ts, rows = tape.trades.rows(g0, g1)
        ids = tape.ids(g0, g1)
        price = tape.trades.column("price", rows)
        qty = tape.trades.column("qty", rows)
        maker = tape.trades.column("buyer_maker", rows)
        stream = f"{market.market_id.lower()}@trade"
        mid = market.market_id
        return [
            (stream, orjson.dumps(payloads.trade_event(
                mid, now, int(ids[i]), float(price[i]), float(qty[i]), int(ts[i]), bool(maker[i])
            )))
            for i in range(len(ts))
        ]  # fmt: skip

    @staticmethod
    def _aggregate_events(market: Market, a0: int, a1: int, now: int) -> list[tuple[str, bytes]]:
        tape = market.trades
        assert tape is not None
        ts, rows = tape.aggregates.rows(a0, a1)
        first, last = tape.aggregate_bounds(a0, a1)
        price = tape.aggregates.column("price", rows)
        qty = tape.aggregates.column("qty", rows)
        maker = tape.aggregates.column("buyer_maker", rows)
        stream = f"{market.market_id.lower()}@aggTrade"
        mid = market.market_id
        return [
            (stream, orjson.dumps(payloads.agg_trade_event(
                mid, now, a0 + i + 1, float(price[i]), float(qty[i]), int(first[i]),
                int(last[i]), int(ts[i]), bool(maker[i]),
            )))
            for i in range(len(ts))
        ]  # fmt: skip

    @staticmethod
    def _quote_events(market: Market, q0: int, q1: int) -> list[tuple[str, bytes]]:
        quotes = market.quotes
        assert quotes is not None
        _, rows = quotes.rows(q0, q1)
        bid, bid_qty, ask, ask_qty = (
            quotes.column(n, rows) for n in ("bid", "bid_qty", "ask", "ask_qty")
        )
        stream = f"{market.market_id.lower()}@bookTicker"
        return [
            (stream, orjson.dumps(payloads.book_ticker_event(
                market.market_id, q0 + i + 1, float(bid[i]), float(bid_qty[i]), float(ask[i]),
                float(ask_qty[i]),
            )))
            for i in range(len(rows))
        ]  # fmt: skip

    @staticmethod
    def _kline_events(
        market: Market, interval: str, klines: Klines, now: int, *, closed: bool
    ) -> list[tuple[str, bytes]]:
        stream = f"{market.market_id.lower()}@kline_{interval}"
        return [
            (stream, orjson.dumps(
                payloads.kline_event(market.market_id, interval, now, klines, i, closed)
            ))
            for i in range(len(klines))
        ]  # fmt: skip

    def _dispatch(self, events: list[tuple[str, bytes]]) -> int:
        queued = 0
        for client in list(self._clients):
            if client.stalled:
                continue
            frames = [
                _wrap(stream, data) if client.combined else data.decode()
                for stream, data in events
                if stream in client.streams
            ]
            if not frames and not client.hold:
                continue
            for frame in self.faults.shape(frames, client.hold):
                client.queue.put_nowait(frame)
                queued += 1
        return queued

    # --- connection control -------------------------------------------------------------------
    def broadcast(self, text: str) -> None:
        """Send ``text`` as is to every client (no faults applied)."""
        for client in self._clients:
            if not client.stalled:
                client.queue.put_nowait(text)

    def stall_all(self) -> int:
        """Stall every open connection: TCP stays up, nothing is sent on it ever again."""
        clients = list(self._clients)
        for client in clients:
            client.stalled = True
        return len(clients)

    def server_shutdown(self) -> None:
        """Announce a server shutdown the way Binance does."""
        self.broadcast(orjson.dumps(payloads.server_shutdown_event(self.clock.now_ms())).decode())

    def drop_all(self) -> int:
        """Abort every connection at the TCP level (no close frame): a network failure."""
        clients = list(self._clients)
        for client in clients:
            client.ws.transport.abort()
        return len(clients)

    async def close_all(self, code: int = 1001, reason: str = "") -> int:
        """Close every connection with a close frame, as Binance does at the 24-hour mark."""
        clients = list(self._clients)
        await asyncio.gather(*(c.ws.close(code, reason) for c in clients), return_exceptions=True)
        return len(clients)

    # --- per connection -----------------------------------------------------------------------
    async def handle(self, ws: ServerConnection) -> None:
        """Serve one client connection until it closes."""
        path = ws.request.path if ws.request is not None else "/"
        self.stats.paths.append(path)
        try:
            combined, streams = _parse_path(path)
        except ValueError as exc:
            await ws.close(1008, str(exc)[:120])
            return
        if self.faults.refusing:
            self.stats.connections_refused += 1
            await ws.close(1013, "try again later")
            return
        client = _Client(ws, combined, streams, opened=time.monotonic())
        self._clients.add(client)
        self.stats.connections_opened += 1
        self.stats.connections_open += 1
        helpers = [asyncio.create_task(self._send_loop(client))]
        if self.settings.ping_interval:
            helpers.append(asyncio.create_task(self._ping_loop(client)))
        if self.settings.max_connection_age:
            helpers.append(asyncio.create_task(self._age_limit(client)))
        try:
            async for message in ws:
                if not self._within_rate(client):
                    self.stats.rate_limit_closes += 1
                    await ws.close(1008, "Too many requests")
                    break
                self.stats.control_messages += 1
                reply = self._control(client, message)
                if not client.stalled:
                    client.queue.put_nowait(orjson.dumps(reply).decode())
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            self.stats.connections_open -= 1
            client.queue.put_nowait(None)
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    def _within_rate(self, client: _Client) -> bool:
        now = time.monotonic()
        client.incoming.append(now)
        while client.incoming and now - client.incoming[0] > 1.0:
            client.incoming.popleft()
        return len(client.incoming) <= self.settings.max_incoming_per_second

    def _control(self, client: _Client, message: str | bytes) -> dict:
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError as exc:
            return {"code": 3, "msg": f"Invalid JSON: {exc}", "id": None}
        if not isinstance(request, dict):
            return {"code": 3, "msg": "Invalid JSON: expected an object", "id": None}
        request_id = request.get("id")
        if not isinstance(request_id, int | str) or isinstance(request_id, bool):
            return {
                "code": 2,
                "msg": "Invalid request: request ID must be an unsigned integer",
                "id": None,
            }
        method = request.get("method")
        params = request.get("params", [])
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(client.streams), "id": request_id}
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            return {
                "code": 2,
                "msg": f"Invalid request: unknown method {method!r}",
                "id": request_id,
            }
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return {
                "code": 2,
                "msg": "Invalid request: params must be a list of stream names",
                "id": request_id,
            }
        try:
            names = {str(StreamName.parse(p)) for p in params}
        except ValueError as exc:
            return {"code": 2, "msg": f"Invalid request: {exc}", "id": request_id}
        if method == "SUBSCRIBE":
            if len(client.streams | names) > self.settings.max_streams:
                return {
                    "code": 2,
                    "msg": f"Invalid request: more than {self.settings.max_streams} streams",
                    "id": request_id,
                }
            client.streams |= names
        else:
            client.streams -= names
        return {"result": None, "id": request_id}

    async def _send_loop(self, client: _Client) -> None:
        while (frame := await client.queue.get()) is not None:
            try:
                await client.ws.send(frame)
            except ConnectionClosed:
                return
            self.stats.frames_sent += 1

    async def _ping_loop(self, client: _Client) -> None:
        interval = self.settings.ping_interval or 0
        n = 0
        while True:
            await asyncio.sleep(interval)
            if self.faults.silent or client.stalled:
                continue
            n += 1
            try:
                waiter = await client.ws.ping(f"sim-ping-{n}".encode())
                self.stats.pings_sent += 1
                await asyncio.wait_for(waiter, self.settings.pong_timeout)
            except TimeoutError:
                await client.ws.close(1008, "pong timeout")
                return
            except ConnectionClosed:
                return
            self.stats.pongs_matched += 1

    async def _age_limit(self, client: _Client) -> None:
        await asyncio.sleep(self.settings.max_connection_age or 0)
        with contextlib.suppress(ConnectionClosed):
            await client.ws.close(1001, "connection age limit (24h)")


def _wrap(stream: str, data: bytes) -> str:
    return f'{{"stream":"{stream}","data":{data.decode()}}}'


def _parse_path(path: str) -> tuple[bool, set[str]]:
    """``/stream?streams=a/b`` (combined) or ``/ws/<stream>`` / ``/ws`` (raw)."""
    parts = urlsplit(path)
    if parts.path.rstrip("/") == "/stream":
        names = parse_qs(parts.query).get("streams", [""])[0]
        streams = [n for n in names.split("/") if n]
        return True, {str(StreamName.parse(n)) for n in streams}
    if parts.path.rstrip("/") == "/ws":
        return False, set()
    if parts.path.startswith("/ws/"):
        streams = [n for n in parts.path[len("/ws/") :].split("/") if n]
        return False, {str(StreamName.parse(n)) for n in streams}
    raise ValueError(f"unknown path {parts.path!r}; use /stream?streams=... or /ws/<stream>")
