"""Alpaca and Polygon market-data REST endpoints on 127.0.0.1, with their documented shapes.

A loopback stand-in for ``data.alpaca.markets`` and ``api.polygon.io`` (Massive) that the
official SDKs (``alpaca-py``'s ``StockHistoricalDataClient`` with ``url_override``, the
``massive`` ``RESTClient`` with ``base``) talk to unchanged:

- Alpaca ``GET /v2/stocks/bars``, ``/v2/stocks/trades`` and ``/v2/stocks/quotes`` —
  ``{"bars"|"trades"|"quotes": {SYMBOL: [...]}, "next_page_token": ...}``, keys in
  ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY``;
- Polygon ``GET /v2/aggs/ticker/{T}/range/{multiplier}/{timespan}/{from}/{to}``,
  ``/v3/trades/{T}`` and ``/v3/quotes/{T}`` — ``{"results": [...], "status": "OK", "next_url":
  ...}``, key as ``Authorization: Bearer`` or ``apiKey``.

The data is a constructed tape (:class:`StockTape`): seeded trades in every minute of the
regular New York sessions (09:30–16:00 America/New_York) of the days asked for, a quote 1 µs
before each trade (bid and ask a seeded number of cents around its price); bars are the
direct aggregation of those trades on UTC-aligned windows (empty windows have no bar, as with
both vendors). Pages are capped at ``page_cap`` rows so pagination is exercised; ``faults``
answers the next calls with 429 and a ``Retry-After``.

>>> tape = StockTape(("AAPL",), "2024-01-02", "2024-01-03")
>>> with MarketDataProviders(tape, page_cap=50) as server:
...     import urllib.request, json
...     url = server.url + "/v2/stocks/bars?symbols=AAPL&timeframe=1Hour&start=2024-01-02T00:00:00Z"
...     req = urllib.request.Request(url, headers={"APCA-API-KEY-ID": server.key_id,
...                                                "APCA-API-SECRET-KEY": server.secret})
...     body = json.load(urllib.request.urlopen(req))
>>> [bar["t"] for bar in body["bars"]["AAPL"]][:2], body["next_page_token"]
(['2024-01-02T14:00:00Z', '2024-01-02T15:00:00Z'], None)
"""

from __future__ import annotations

import base64
import json
import threading
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np
import polars as pl

from connectors.simulator.catalogue import Market
from connectors.simulator.tape import Tape, TradeTape

_NS = 1_000_000_000
_ALPACA_UNITS = {"Min": "m", "T": "m", "Hour": "h", "H": "h", "Day": "d", "D": "d", "Week": "w"}
_POLYGON_UNITS = {"minute": "m", "hour": "h", "day": "d", "week": "w"}


class StockTape:
    """Seeded trades of ``symbols`` in every regular-session minute of ``[first_day, last_day]``.

    Prices follow a per-symbol random walk (seed from the symbol name), 1–3 trades a minute,
    ids counting from 1 per symbol; weekends have no session. A crypto pair among ``symbols``
    (``BTC/USD``, Alpaca's crypto API) trades every minute of every day. ``fx`` pairs
    (``EUR/USD``) get 1–3 quotes in every minute their ``24/5`` calendar is open and no trades;
    Polygon names them ``C:EURUSD`` over REST, and their bars aggregate the mid (volume = quote
    count).
    """

    def __init__(
        self, symbols: tuple[str, ...], first_day: str, last_day: str, fx: tuple[str, ...] = ()
    ) -> None:
        days = pl.date_range(
            datetime.fromisoformat(first_day), datetime.fromisoformat(last_day), eager=True
        )
        weekdays = [d for d in days if d.weekday() < 5]
        self.trades = {
            symbol: _session_trades(symbol, list(days) if "/" in symbol else weekdays)
            for symbol in symbols
        }
        self.quotes = {symbol: _quotes_of(symbol, t) for symbol, t in self.trades.items()}
        self.fx = {pair: _fx_quotes(pair, list(days)) for pair in fx}

    @staticmethod
    def pair_of(symbol: str) -> str:
        """``C:EURUSD`` → ``EUR/USD``; other names unchanged."""
        if symbol.startswith("C:") and len(symbol) == 8:
            return f"{symbol[2:5]}/{symbol[5:]}"
        return symbol

    def trades_in(self, symbol: str, start_ns: int, end_ns: int) -> pl.DataFrame:
        frame = self.trades.get(symbol)
        if frame is None:
            return _empty_trades()
        return frame.filter((pl.col("ts_ns") >= start_ns) & (pl.col("ts_ns") < end_ns))

    def quotes_in(self, symbol: str, start_ns: int, end_ns: int) -> pl.DataFrame:
        frame = self.quotes.get(symbol, self.fx.get(self.pair_of(symbol)))
        if frame is None:
            return _quotes_of(symbol, _empty_trades())
        return frame.filter((pl.col("ts_ns") >= start_ns) & (pl.col("ts_ns") < end_ns))

    def market(self, symbol: str) -> Market:
        """``symbol``'s trades and quotes as a simulator :class:`Market` (``AAPL`` → ``AAPL/USD``)
        for the matching engine: the very prices and sizes these servers replay, each event at
        the first millisecond at which it is known (a trade at ``…000.4 ms`` is on the book
        from ``…001 ms``), so a broker on the same clock fills against what the streams sent.
        Trades carry no aggressor side here (``buyer_maker`` is false).

        >>> tape = StockTape(("AAPL",), "2024-01-02", "2024-01-02")
        >>> market = tape.market("AAPL")
        >>> market.symbol, len(market.trades) == len(tape.trades["AAPL"])
        ('AAPL/USD', True)
        >>> first = tape.quotes["AAPL"].row(0, named=True)
        >>> _, rows = market.quotes.rows(0, 1)
        >>> bool(market.quotes.column("ask", rows)[0] == first["ask"])
        True
        """
        trades, quotes = self.trades.get(symbol), self.quotes.get(symbol)
        if trades is None or quotes is None or trades.is_empty() or "/" in symbol:
            raise ValueError(f"symbol {symbol!r}: the tape has no stock trades for it")
        tape = TradeTape.build(
            _known_ms(trades["ts_ns"]),
            trades["price"].to_numpy(),
            trades["size"].to_numpy(),
            np.zeros(len(trades), dtype=bool),
            first_id=int(trades["id"][0]),
        )
        book = Tape(
            _known_ms(quotes["ts_ns"]),
            {
                "bid": quotes["bid"].to_numpy(),
                "bid_qty": quotes["bid_size"].to_numpy(),
                "ask": quotes["ask"].to_numpy(),
                "ask_qty": quotes["ask_size"].to_numpy(),
            },
        )
        return Market(symbol, "USD", trades=tape, quotes=book, price_decimals=2)

    def bars(self, symbol: str, every: str, start_ns: int, end_ns: int) -> pl.DataFrame:
        """Bars of ``every`` (polars duration, e.g. ``5m``) opening in ``[start_ns, end_ns)``."""
        fx = self.fx.get(self.pair_of(symbol))
        if fx is not None:  # the mid of the quotes, each quote one unit of volume
            ticks = fx.select("ts_ns", price=(pl.col("bid") + pl.col("ask")) / 2, size=pl.lit(1))
            return _bars(ticks, every).filter(pl.col("ts_ns").is_between(start_ns, end_ns - 1))
        trades = self.trades.get(symbol, _empty_trades())
        if trades.is_empty():
            return trades
        bars = _bars(trades, every)
        return bars.filter((pl.col("ts_ns") >= start_ns) & (pl.col("ts_ns") < end_ns))


def _known_ms(ts_ns: pl.Series) -> np.ndarray:
    """Nanosecond times → the first whole millisecond at or after each (ceiling)."""
    return -(-ts_ns.to_numpy() // 1_000_000)


def _bars(ticks: pl.DataFrame, every: str) -> pl.DataFrame:
    """OHLCV, count and VWAP of ``ticks`` (``ts_ns, price, size``) per window of ``every``."""
    return (
        ticks.with_columns(ts=pl.from_epoch("ts_ns", time_unit="ns"))
        .group_by_dynamic("ts", every=every, start_by="window" if every != "1w" else "monday")
        .agg(
            o=pl.col("price").first(),
            h=pl.col("price").max(),
            low=pl.col("price").min(),
            c=pl.col("price").last(),
            v=pl.col("size").sum(),
            n=pl.len(),
            vw=(pl.col("price") * pl.col("size")).sum() / pl.col("size").sum(),
        )
        .with_columns(ts_ns=pl.col("ts").dt.epoch("ns"))
    )


def _fx_quotes(pair: str, days: list[Any]) -> pl.DataFrame:
    from operators.candles.calendars import calendar_for

    rng = np.random.default_rng(zlib.crc32(pair.encode()))
    first = int(datetime(days[0].year, days[0].month, days[0].day, tzinfo=UTC).timestamp())
    minutes = first * _NS + np.arange(len(days) * 1440, dtype=np.int64) * 60 * _NS
    minutes = minutes[calendar_for("24/5").is_open(minutes)]
    counts = rng.integers(1, 4, len(minutes))
    stamps = np.repeat(minutes, counts) + np.sort(rng.integers(0, 60 * _NS, counts.sum()))
    stamps = np.sort(stamps.reshape(-1))
    mid = np.round(1.1 + np.cumsum(rng.normal(0.0, 0.00005, len(stamps))), 5)
    half = rng.integers(1, 4, len(stamps)) / 100_000
    return pl.DataFrame(
        {"ts_ns": stamps, "bid": np.round(mid - half, 5), "ask": np.round(mid + half, 5),
         "bid_size": rng.integers(1, 20, len(stamps)) * 100_000,
         "ask_size": rng.integers(1, 20, len(stamps)) * 100_000},
        schema={"ts_ns": pl.Int64, "bid": pl.Float64, "ask": pl.Float64,
                "bid_size": pl.Int64, "ask_size": pl.Int64},
    )  # fmt: skip


def _empty_trades() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"ts_ns": pl.Int64, "id": pl.Int64, "price": pl.Float64, "size": pl.Int64}
    )


def _session_trades(symbol: str, days: list[Any]) -> pl.DataFrame:
    """A stock's regular sessions (09:30–16:00 New York); a pair (``BTC/USD``) trades all day."""
    import zoneinfo

    rng = np.random.default_rng(zlib.crc32(symbol.encode()))
    new_york = zoneinfo.ZoneInfo("America/New_York")
    stamps: list[int] = []
    crypto = "/" in symbol
    for day in days:
        when = (0, 0, UTC) if crypto else (9, 30, new_york)
        open_ns = int(datetime(day.year, day.month, day.day, when[0], when[1],
                               tzinfo=when[2]).timestamp())  # fmt: skip
        for minute in range(1440 if crypto else 390):
            count = int(rng.integers(1, 4))
            offsets = np.sort(rng.integers(0, 60 * _NS, count))
            stamps.extend(int((open_ns + minute * 60) * _NS + o) for o in offsets)
    n = len(stamps)
    steps = rng.normal(0.0, 0.05, n)
    prices = np.round(100.0 + 20 * (zlib.crc32(symbol.encode()) % 7) + np.cumsum(steps), 2)
    return pl.DataFrame(
        {
            "ts_ns": np.array(stamps, dtype=np.int64),
            "id": np.arange(1, n + 1, dtype=np.int64),
            "price": prices,
            "size": rng.integers(1, 500, n),
        }
    )


def _quotes_of(symbol: str, trades: pl.DataFrame) -> pl.DataFrame:
    rng = np.random.default_rng(zlib.crc32(symbol.encode()) + 1)
    n = len(trades)
    below, above = rng.integers(1, 4, n) / 100, rng.integers(1, 4, n) / 100
    return pl.DataFrame(
        {
            "ts_ns": trades["ts_ns"] - 1_000,
            "bid": np.round(trades["price"].to_numpy() - below, 2),
            "ask": np.round(trades["price"].to_numpy() + above, 2),
            "bid_size": rng.integers(1, 20, n) * 100,
            "ask_size": rng.integers(1, 20, n) * 100,
        },
        schema={"ts_ns": pl.Int64, "bid": pl.Float64, "ask": pl.Float64,
                "bid_size": pl.Int64, "ask_size": pl.Int64},
    )  # fmt: skip


@dataclass
class ProviderFaults:
    """The next ``status_left`` calls answer ``status`` with ``Retry-After: retry_after``."""

    status_left: int = 0
    status: int = 429
    retry_after: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, calls: int, status: int = 429, retry_after: int = 0) -> None:
        with self.lock:
            self.status_left, self.status, self.retry_after = calls, status, retry_after

    def take(self) -> tuple[int, int] | None:
        with self.lock:
            if self.status_left <= 0:
                return None
            self.status_left -= 1
            return self.status, self.retry_after


class MarketDataProviders:
    """The loopback Alpaca-data and Polygon server; a context manager (``start``/``stop``)."""

    def __init__(
        self,
        tape: StockTape,
        *,
        page_cap: int = 1000,
        key_id: str = "sim-key-id",
        secret: str = "sim-secret-key",
        polygon_key: str = "sim-polygon-key",
    ) -> None:
        self.tape, self.page_cap = tape, page_cap
        self.key_id, self.secret, self.polygon_key = key_id, secret, polygon_key
        self.faults = ProviderFaults()
        self.calls: Counter[str] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- Alpaca ------------------------------------------------------------------------------

    def alpaca(self, path: str, query: dict[str, str], headers: Any) -> tuple[int, dict]:
        if (headers.get("APCA-API-KEY-ID"), headers.get("APCA-API-SECRET-KEY")) != (
            self.key_id,
            self.secret,
        ):
            return 401, {"code": 40110000, "message": "request is not authorized"}
        symbols = [s for s in query.get("symbols", "").split(",") if s]
        if not symbols:
            return 400, {"code": 42210000, "message": "invalid symbols"}
        start_ns = _rfc3339_ns(query.get("start")) or 0
        end_ns = (_rfc3339_ns(query.get("end")) or 2**62) + 1  # Alpaca's end is inclusive
        limit = min(int(query.get("limit") or 1000), self.page_cap)
        kind = path.rsplit("/", 1)[-1]
        if kind == "bars":
            every = _alpaca_every(query.get("timeframe", ""))
            if every is None:
                return 400, {"code": 42210000, "message": "invalid timeframe"}
            tables = {s: self.tape.bars(s, every, start_ns, end_ns) for s in symbols}
        elif kind == "quotes":
            tables = {s: self.tape.quotes_in(s, start_ns, end_ns) for s in symbols}
        else:
            tables = {s: self.tape.trades_in(s, start_ns, end_ns) for s in symbols}
        shape = {"bars": _alpaca_bar, "quotes": _alpaca_quote}.get(kind, _alpaca_trade)
        # one page spans the symbols in order: the token is (symbol index, row offset)
        position = _decode(query.get("page_token")) or [0, 0]
        out: dict[str, list[dict]] = {}
        room = limit
        index, offset = position
        while index < len(symbols) and room > 0:
            table = tables[symbols[index]]
            rows = table.slice(offset, room)
            if len(rows):
                out[symbols[index]] = [shape(r) for r in rows.iter_rows(named=True)]
            room -= len(rows)
            offset += len(rows)
            if offset >= len(table):
                index, offset = index + 1, 0
        token = _encode([index, offset]) if index < len(symbols) else None
        return 200, {kind: out, "next_page_token": token}

    # --- Polygon -----------------------------------------------------------------------------

    def polygon(self, path: str, query: dict[str, str], headers: Any) -> tuple[int, dict]:
        bearer = (headers.get("Authorization") or "").removeprefix("Bearer ")
        if self.polygon_key not in (bearer, query.get("apiKey")):
            return 401, {"status": "ERROR", "request_id": "sim", "error": "Unknown API Key"}
        parts = path.strip("/").split("/")
        limit = min(int(query.get("limit") or 5000), self.page_cap)
        offset = int(_decode(query.get("cursor")) or 0)
        if parts[:3] == ["v2", "aggs", "ticker"] and len(parts) == 9:
            ticker, multiplier, timespan, first, last = parts[3], *parts[5:]
            unit = _POLYGON_UNITS.get(timespan)
            if unit is None or not multiplier.isdigit():
                return 400, {"status": "ERROR", "error": f"invalid timespan {timespan!r}"}
            start_ns, end_ns = _polygon_ms(first) * 1_000_000, _polygon_ms(last, True) * 1_000_000
            table = self.tape.bars(ticker, f"{multiplier}{unit}", start_ns, end_ns + 1)
            rows = [_polygon_agg(r) for r in table.slice(offset, limit).iter_rows(named=True)]
            body: dict[str, Any] = {
                "ticker": ticker,
                "adjusted": query.get("adjusted", "true") == "true",
                "queryCount": len(rows),
                "resultsCount": len(rows),
                "results": rows,
                "status": "OK",
                "request_id": f"sim-{offset}",
            }
        elif parts[0] == "v3" and parts[1:2] in (["trades"], ["quotes"]) and len(parts) == 3:
            start_ns = int(query.get("timestamp.gte") or 0)
            lte = query.get("timestamp.lte")
            end_ns = int(lte) + 1 if lte else int(query.get("timestamp.lt") or 2**62)
            if parts[1] == "trades":
                table, shape = self.tape.trades_in(parts[2], start_ns, end_ns), _polygon_trade
            else:
                table, shape = self.tape.quotes_in(parts[2], start_ns, end_ns), _polygon_quote
            rows = [shape(r) for r in table.slice(offset, limit).iter_rows(named=True)]
            body = {"results": rows, "status": "OK", "request_id": f"sim-{offset}"}
        else:
            return 404, {"status": "NOT_FOUND", "message": f"no route {path}"}
        if offset + len(rows) < len(table):
            kept = {k: v for k, v in query.items() if k not in {"cursor", "apiKey"}}
            kept["cursor"] = _encode(offset + len(rows))
            body["next_url"] = f"{self.url}{path}?{urlencode(kept)}"
        return 200, body


def _handler_for(server: MarketDataProviders) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
            server.calls[parsed.path.split("/")[2] if parsed.path.count("/") > 1 else ""] += 1
            fault = server.faults.take()
            if fault is not None:
                status, wait = fault
                self._send(status, {"message": "too many requests"}, {"Retry-After": str(wait)})
                return
            if parsed.path.startswith(("/v2/stocks/", "/v1beta3/crypto/")):
                status, body = server.alpaca(parsed.path, query, self.headers)
            else:
                status, body = server.polygon(parsed.path, query, self.headers)
            self._send(status, body)

        def _send(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:  # keep test output quiet
            return

    return Handler


def _encode(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _decode(token: str | None) -> Any:
    return None if not token else json.loads(base64.urlsafe_b64decode(token.encode()))


def _rfc3339_ns(text: str | None) -> int | None:
    if not text:
        return None
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp()) * _NS + when.microsecond * 1000


def _rfc3339(ts_ns: int) -> str:
    when = datetime.fromtimestamp(ts_ns // _NS, UTC)
    fraction = ts_ns % _NS
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{fraction:09d}Z" if fraction else f"{text}Z"


def _alpaca_every(timeframe: str) -> str | None:
    digits = "".join(c for c in timeframe if c.isdigit())
    unit = _ALPACA_UNITS.get(timeframe[len(digits) :])
    return None if not digits or unit is None else f"{int(digits)}{unit}"


def _polygon_ms(text: str, end: bool = False) -> int:
    """A Polygon ``from``/``to``: epoch ms, or a date (the whole day when it is the end)."""
    if text.isdigit():
        return int(text)
    day = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(day.timestamp() * 1000) + (86_400_000 - 1 if end else 0)


def _alpaca_bar(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "t": _rfc3339(row["ts_ns"]),
        "o": row["o"],
        "h": row["h"],
        "l": row["low"],
        "c": row["c"],
        "v": row["v"],
        "n": row["n"],
        "vw": round(row["vw"], 4),
    }


def _alpaca_trade(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "t": _rfc3339(row["ts_ns"]),
        "x": "V",
        "p": row["price"],
        "s": row["size"],
        "c": ["@"],
        "i": row["id"],
        "z": "C",
    }


def _polygon_agg(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "v": row["v"],
        "vw": round(row["vw"], 4),
        "o": row["o"],
        "c": row["c"],
        "h": row["h"],
        "l": row["low"],
        "t": row["ts_ns"] // 1_000_000,
        "n": row["n"],
    }


def _polygon_trade(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "conditions": [12],
        "exchange": 4,
        "id": str(row["id"]),
        "participant_timestamp": row["ts_ns"] - 1_000,
        "price": row["price"],
        "sequence_number": row["id"],
        "sip_timestamp": row["ts_ns"],
        "size": row["size"],
        "tape": 3,
    }


def _alpaca_quote(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "t": _rfc3339(row["ts_ns"]),
        "ax": "V",
        "ap": row["ask"],
        "as": row["ask_size"],
        "bx": "V",
        "bp": row["bid"],
        "bs": row["bid_size"],
        "c": ["R"],
        "z": "C",
    }


def _polygon_quote(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "ask_exchange": 4,
        "ask_price": row["ask"],
        "ask_size": row["ask_size"],
        "bid_exchange": 4,
        "bid_price": row["bid"],
        "bid_size": row["bid_size"],
        "participant_timestamp": row["ts_ns"] - 1_000,
        "sequence_number": 0,
        "sip_timestamp": row["ts_ns"],
        "tape": 3,
    }
