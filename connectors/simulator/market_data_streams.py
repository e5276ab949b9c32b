"""Alpaca's and Polygon's market-data WebSockets on 127.0.0.1, replaying a :class:`StockTape`.

The documented exchanges, frame for frame:

* Alpaca ``/v2/{feed}`` (stocks) and ``/v1beta3/crypto/us`` (the tape's crypto pairs):
  ``[{"T":"success","msg":"connected"}]`` on connect;
  ``{"action":"auth","key","secret"}`` → ``authenticated`` or ``{"T":"error","code":402}``;
  ``{"action":"subscribe","trades":[…],"quotes":[…],"bars":[…]}`` → ``{"T":"subscription"…}``;
  data ``t``/``q``/``b`` messages; JSON, or msgpack (``t`` a msgpack timestamp) when the client
  sends ``Content-Type: application/msgpack``;
* Polygon ``/stocks``: ``status`` messages ``connected``, ``auth_success``/``auth_failed``,
  ``success`` per subscribed ``T.``/``Q.``/``AM.`` channel; data ``T``/``Q``/``AM`` (``t`` in ms);
  ``/forex``: the same exchange with ``C.`` quotes (``p`` pair, ``b``/``a``) and ``CA.`` minute
  aggregates of the tape's FX pairs.

Time moves only when the test says (:meth:`VendorStreams.advance`): the tape's trades and quotes
up to the new time are sent to the connections subscribed to them, and each minute bar once its
minute has ended. Faults: refuse connections (HTTP 503 at the handshake), drop them, stall them
(connected, nothing sent), skip a time range on the stream (REST still serves it: the hole a
client must backfill), and send a raw frame (malformed on purpose).

>>> import asyncio, json
>>> from websockets.asyncio.client import connect
>>> tape = StockTape(("AAPL",), "2024-01-02", "2024-01-02")
>>> async def session(url):
...     async with connect(url + "/stocks") as ws:
...         greeting = json.loads(await ws.recv())
...         await ws.send('{"action":"auth","params":"sim-polygon-key"}')
...         return greeting, json.loads(await ws.recv())
>>> with VendorStreams(tape) as streams:
...     asyncio.run(session(streams.url))[1][0]["status"]
'auth_success'
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, Self

import msgpack
import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from connectors.simulator.market_data_providers import (
    StockTape,
    _alpaca_bar,
    _alpaca_quote,
    _alpaca_trade,
)

_NS_PER_MS = 1_000_000
_MINUTE_NS = 60_000_000_000
_POLYGON_CHANNELS = {"T": "trades", "Q": "quotes", "AM": "bars", "C": "quotes", "CA": "bars"}


@dataclass(eq=False)
class _Client:
    ws: ServerConnection
    vendor: str
    msgpacked: bool
    forex: bool = False
    authenticated: bool = False
    subscribed: dict[str, set[str]] = field(default_factory=dict)

    def encode(self, messages: list[dict[str, Any]]) -> str | bytes:
        if self.msgpacked:
            return msgpack.packb(messages, datetime=False)
        return orjson.dumps(messages).decode()


@dataclass
class StreamStats:
    connections: int = 0
    refused: int = 0
    auth_failures: int = 0
    frames_sent: int = 0


class VendorStreams:
    """The loopback Alpaca-data and Polygon WebSocket server (``start``/``stop``, or ``with``).

    ``start_ns`` is the clock's first reading (default: the tape's first event minus a minute);
    ``frame_size`` caps the messages per frame.
    """

    def __init__(
        self,
        tape: StockTape,
        *,
        start_ns: int | None = None,
        key_id: str = "sim-key-id",
        secret: str = "sim-secret-key",
        polygon_key: str = "sim-polygon-key",
        frame_size: int = 50,
    ) -> None:
        self.tape = tape
        self.key_id, self.secret, self.polygon_key = key_id, secret, polygon_key
        self.frame_size = frame_size
        ticks = [*tape.trades.values(), *tape.fx.values()]
        firsts = [int(t["ts_ns"][0]) for t in ticks if len(t)]
        self.now_ns = start_ns if start_ns is not None else min(firsts) - _MINUTE_NS
        self.stats = StreamStats()
        self.refusing = False
        self.skipped: list[tuple[int, int]] = []
        self._clients: set[_Client] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vendor-streams", daemon=True)

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}"

    def start(self) -> Self:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("the vendor stream server did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._server = await serve(
            self._serve, "127.0.0.1", 0, process_request=self._admit, compression=None,
            ping_interval=None,
        )  # fmt: skip
        self._ready.set()
        await self._server.wait_closed()

    def _call(self, coroutine: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    # --- the test's switches ------------------------------------------------------------------
    def advance(self, ms: int) -> int:
        """Move the clock ``ms`` forward and publish what happened; returns messages sent."""
        return self._call(self._publish(self.now_ns, self.now_ns + ms * _NS_PER_MS))

    def refuse_connections(self, on: bool = True) -> None:
        self.refusing = on

    def drop_connections(self) -> None:
        self._call(self._close_all())

    def stall(self) -> None:
        """The open connections stay open and get nothing more (new ones are served)."""
        for client in self._clients:
            client.subscribed = {}

    def skip(self, first_ns: int, last_ns: int) -> None:
        """Events in ``[first_ns, last_ns]`` (a bar: its open time) are never sent."""
        self.skipped.append((first_ns, last_ns))

    def send_raw(self, frame: str | bytes) -> None:
        """Send ``frame`` as is to every subscribed connection."""
        self._call(self._broadcast(frame))

    @property
    def subscribed_clients(self) -> int:
        return sum(1 for c in self._clients if c.subscribed)

    # --- server -------------------------------------------------------------------------------
    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.refusing:
            self.stats.refused += 1
            return connection.respond(503, "unavailable\n")
        alpaca = request.path.startswith("/v2/") or request.path == "/v1beta3/crypto/us"
        if not (alpaca or request.path in ("/stocks", "/forex")):
            return connection.respond(404, f"no stream at {request.path}\n")
        return None

    async def _serve(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        vendor = "polygon" if ws.request.path in ("/stocks", "/forex") else "alpaca"
        msgpacked = vendor == "alpaca" and (
            ws.request.headers.get("Content-Type") == "application/msgpack"
        )
        client = _Client(ws, vendor, msgpacked, forex=ws.request.path == "/forex")
        self.stats.connections += 1
        greeting = (
            {"T": "success", "msg": "connected"}
            if vendor == "alpaca"
            else {"ev": "status", "status": "connected", "message": "Connected Successfully"}
        )
        try:
            await ws.send(client.encode([greeting]))
            async for raw in ws:
                await ws.send(client.encode(self._answer(client, raw)))
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)

    def _answer(self, client: _Client, raw: str | bytes) -> list[dict[str, Any]]:
        alpaca = client.vendor == "alpaca"
        try:
            frame = msgpack.unpackb(raw) if isinstance(raw, bytes) else orjson.loads(raw)
            action = frame["action"]
        except (ValueError, KeyError, TypeError, msgpack.ExtraData):
            if alpaca:
                return [{"T": "error", "code": 400, "msg": "invalid syntax"}]
            return [{"ev": "status", "status": "error", "message": "invalid syntax"}]
        if action == "auth":
            if alpaca:
                client.authenticated = (frame.get("key"), frame.get("secret")) == (
                    self.key_id,
                    self.secret,
                )
            else:
                client.authenticated = frame.get("params") == self.polygon_key
            if client.authenticated:
                if alpaca:
                    return [{"T": "success", "msg": "authenticated"}]
                return [{"ev": "status", "status": "auth_success", "message": "authenticated"}]
            self.stats.auth_failures += 1
            if alpaca:
                return [{"T": "error", "code": 402, "msg": "auth failed"}]
            return [{"ev": "status", "status": "auth_failed", "message": "authentication failed"}]
        if action != "subscribe":
            return [{"T": "error", "code": 400, "msg": "invalid syntax"}] if alpaca else []
        if not client.authenticated:
            if alpaca:
                return [{"T": "error", "code": 401, "msg": "not authenticated"}]
            return [{"ev": "status", "status": "error", "message": "not authorized"}]
        self._clients.add(client)
        if alpaca:
            for channel in ("trades", "quotes", "bars"):
                client.subscribed.setdefault(channel, set()).update(frame.get(channel) or [])
            return [{"T": "subscription", **{c: sorted(s) for c, s in client.subscribed.items()}}]
        answers = []
        for param in str(frame.get("params", "")).split(","):
            prefix, _, symbol = param.partition(".")
            channel = _POLYGON_CHANNELS.get(prefix)
            if channel is None or not symbol or (prefix in ("C", "CA")) != client.forex:
                answers.append({"ev": "status", "status": "error", "message": f"bad {param!r}"})
                continue
            client.subscribed.setdefault(channel, set()).add(symbol)
            message = f"subscribed to: {param}"
            answers.append({"ev": "status", "status": "success", "message": message})
        return answers

    async def _close_all(self) -> None:
        for client in list(self._clients):
            with contextlib.suppress(Exception):
                await client.ws.close(1011, "dropped by the test")

    async def _broadcast(self, frame: str | bytes) -> None:
        for client in list(self._clients):
            with contextlib.suppress(ConnectionClosed):
                await client.ws.send(frame)

    async def _publish(self, after_ns: int, until_ns: int) -> int:
        """Send the events in ``(after_ns, until_ns]``; bars publish at their minute's end."""
        self.now_ns = until_ns
        events = self._events(after_ns, until_ns)
        sent = 0
        for client in list(self._clients):
            messages = [
                self._shape(client, kind, symbol, row)
                for _, _, kind, symbol, row in events
                if symbol in client.subscribed.get(kind, ())
            ]
            for i in range(0, len(messages), self.frame_size):
                with contextlib.suppress(ConnectionClosed):
                    await client.ws.send(client.encode(messages[i : i + self.frame_size]))
                    self.stats.frames_sent += 1
            sent += len(messages)
        return sent

    def _events(self, after_ns: int, until_ns: int) -> list[tuple[int, int, str, str, dict]]:
        out = []
        start, end = after_ns + 1, until_ns + 1
        for symbol in [*self.tape.trades, *self.tape.fx]:
            for row in self.tape.trades_in(symbol, start, end).iter_rows(named=True):
                out.append((row["ts_ns"], 1, "trades", symbol, row))
            for row in self.tape.quotes_in(symbol, start, end).iter_rows(named=True):
                out.append((row["ts_ns"], 0, "quotes", symbol, row))
            bars = self.tape.bars(symbol, "1m", start - _MINUTE_NS, end - _MINUTE_NS)
            for row in bars.iter_rows(named=True):
                out.append((row["ts_ns"] + _MINUTE_NS, 2, "bars", symbol, row))
        kept = [e for e in out if not any(a <= e[4]["ts_ns"] <= b for a, b in self.skipped)]
        return sorted(kept, key=lambda e: (e[0], e[1]))

    def _shape(self, client: _Client, kind: str, symbol: str, row: dict) -> dict[str, Any]:
        if client.vendor == "alpaca":
            tag, shape = {"trades": ("t", _alpaca_trade), "quotes": ("q", _alpaca_quote),
                          "bars": ("b", _alpaca_bar)}[kind]  # fmt: skip
            message = {"T": tag, "S": symbol, **shape(row)}
            if client.msgpacked:
                message["t"] = msgpack.Timestamp.from_unix_nano(row["ts_ns"])
            return message
        ts_ms = row["ts_ns"] // _NS_PER_MS
        if client.forex and kind == "quotes":
            return {"ev": "C", "p": symbol, "x": 48, "a": row["ask"], "b": row["bid"], "t": ts_ms}
        if client.forex:
            return {"ev": "CA", "pair": symbol, "o": row["o"], "c": row["c"], "h": row["h"],
                    "l": row["low"], "v": row["v"], "s": ts_ms, "e": ts_ms + 60_000}  # fmt: skip
        if kind == "trades":
            return {"ev": "T", "sym": symbol, "x": 4, "i": str(row["id"]), "z": 3,
                    "p": row["price"], "s": row["size"], "c": [12], "t": ts_ms,
                    "q": row["id"]}  # fmt: skip
        if kind == "quotes":
            return {"ev": "Q", "sym": symbol, "bx": 4, "bp": row["bid"], "bs": row["bid_size"],
                    "ax": 4, "ap": row["ask"], "as": row["ask_size"], "c": 0, "t": ts_ms,
                    "q": 0, "z": 3}  # fmt: skip
        return {"ev": "AM", "sym": symbol, "v": row["v"], "av": row["v"], "op": row["o"],
                "vw": round(row["vw"], 4), "o": row["o"], "c": row["c"], "h": row["h"],
                "l": row["low"], "a": round(row["vw"], 4), "z": int(row["v"] // row["n"]),
                "s": ts_ms, "e": ts_ms + 60_000}  # fmt: skip
