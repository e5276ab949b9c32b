"""Market data read from Kafka messages: Quorum envelopes and Binance's raw frames.

:class:`MarketDecoder` takes message values one by one and returns, per poll, what the flow
eats: one :class:`~schemas.batches.TradeBatch` per symbol, one
:class:`~schemas.batches.CandleBatch` per symbol and timeframe, every
:class:`~schemas.market.BookTop` in order, and a :class:`~schemas.records.DeadLetter` for each
message that cannot be used (with its raw bytes, topic, partition and offset).

Accepted values:

* envelopes ``{"schema": "quorum.v1.trades" | "quorum.v1.candles" | "quorum.v1.quotes", …}``
  (what :mod:`connectors.kafka.envelope` writes, e.g. ``quorum kafka publish``);
* Binance trade / aggTrade / kline / bookTicker events, bare or as combined-stream frames
  (decoded by :mod:`connectors.binance.messages`); forming klines are skipped. Binance market ids
  (``BTCUSDT``) become unified symbols through ``symbol`` (the one market the topic carries) or,
  without it, by their quote currency (``BTC/USDT``).

>>> decoder = MarketDecoder("kafka")
>>> decoder.add(b'{"e":"trade","E":2,"s":"BTCUSDT","t":7,"p":"1.5","q":"2","T":1000,"m":true}',
...             "raw", 0, 0, 0)
>>> decoder.add(b'not json', "raw", 0, 1, 0)
>>> trades, dead = decoder.drain()
>>> trades.symbol, trades.ts_ns.tolist(), trades.side.tolist()
('BTC/USDT', [1000000000], [-1])
>>> dead.reason, dead.detail
('malformed_message', 'raw partition 0 offset 1: not an envelope or a Binance frame: ...')
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from connectors.binance.messages import (
    AggTradeEvent,
    BookTickerEvent,
    FrameError,
    KlineEvent,
    StreamEvent,
    TradeEvent,
    decode_frame,
)
from connectors.binance.streams import market_id
from connectors.kafka.envelope import parse_rfc3339_ns
from connectors.kafka.topics import Kind, schema_name
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import Timeframe, datetime_to_ns, ns_to_datetime
from schemas.market import BookTop
from schemas.records import DeadLetter

NS_PER_MS = 1_000_000
KNOWN_QUOTES = ("USDT", "FDUSD", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")
"""Quote currencies recognised at the end of a Binance market id (longest first wins)."""

UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]
Positive = Annotated[float, msgspec.Meta(gt=0)]


class _Probe(msgspec.Struct):
    """Just enough to tell the formats apart."""

    schema: str | None = None
    stream: str | None = None
    e: str | None = None
    u: int | None = None


class TradeData(msgspec.Struct, forbid_unknown_fields=True):
    symbol: str
    ts: str  # RFC 3339, read to the nanosecond (a datetime would stop at the microsecond)
    price: float
    amount: float
    trade_id: str | None = None
    side: str | None = None
    source: str = "kafka"


class CandleData(msgspec.Struct, forbid_unknown_fields=True):
    symbol: str
    timeframe: str
    ts: UtcTime
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int = 0
    closed: bool = True


class QuoteData(msgspec.Struct, forbid_unknown_fields=True):
    symbol: str
    ts: UtcTime
    bid: Positive
    ask: Positive
    bid_size: float
    ask_size: float
    source: str = "kafka"


def _envelope_of(data_type: type) -> Any:
    fields = [("schema", str), ("version", int), ("id", str), ("key", str)]
    fields += [("ts", str | None), ("data", data_type)]
    return msgspec.json.Decoder(msgspec.defstruct(f"{data_type.__name__}Envelope", fields))


class _Interval(msgspec.Struct):
    i: str


class _KlineInterval(msgspec.Struct):
    k: _Interval


_PROBE = msgspec.json.Decoder(_Probe)
_KLINE_INTERVAL = msgspec.json.Decoder(_KlineInterval)
_ENVELOPES: dict[str, Any] = {
    schema_name(Kind.TRADES): _envelope_of(TradeData),
    schema_name(Kind.CANDLES): _envelope_of(CandleData),
    schema_name(Kind.QUOTES): _envelope_of(QuoteData),
}
_SIDES = {"buy": 1, "sell": -1, None: 0}


class MessageError(ValueError):
    """A message that cannot be used; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def unified_symbol(market: str, symbol: str | None = None) -> str:
    """The unified symbol of a Binance market id.

    >>> unified_symbol("ETHBTC"), unified_symbol("BTCUSDT", "BTC/USDT")
    ('ETH/BTC', 'BTC/USDT')
    >>> unified_symbol("XYZ")
    Traceback (most recent call last):
    ...
    connectors.kafka.market.MessageError: market 'XYZ' has no known quote currency; ...
    """
    if symbol is not None and market_id(symbol) == market:
        return symbol
    for quote in sorted(KNOWN_QUOTES, key=len, reverse=True):
        if market.endswith(quote) and len(market) > len(quote):
            return f"{market[: -len(quote)]}/{quote}"
    raise MessageError(
        "unknown_market",
        f"market {market!r} has no known quote currency; name it with --symbol BASE/QUOTE",
    )


def _trade_id(text: str | None) -> int:
    return int(text) if text is not None and text.isdigit() else -1


class MarketDecoder:
    """Accumulates decoded messages until :meth:`drain` (see the module docstring)."""

    def __init__(self, source: str, symbol: str | None = None) -> None:
        self.source = source
        self.symbol = symbol
        self._trades: dict[str, list[list[Any]]] = {}
        self._candles: dict[tuple[str, Timeframe], list[list[Any]]] = {}
        self._ordered: list[Any] = []  # quotes and dead letters, in arrival order

    def add(self, value: bytes | None, topic: str, partition: int, offset: int, ts_ms: int) -> None:
        """Decode one message (``ts_ms``: the Kafka timestamp, stamps Binance quotes)."""
        try:
            if not value:
                raise MessageError("malformed_message", "empty message")
            self._decode(value, ts_ms)
        except MessageError as exc:
            self._ordered.append(
                DeadLetter(
                    source=f"kafka:{topic}",
                    reason=exc.reason,
                    detail=f"{topic} partition {partition} offset {offset}: {exc}",
                    raw=(value or b"").decode("utf-8", errors="backslashreplace"),
                )
            )

    def _decode(self, value: bytes, ts_ms: int) -> None:
        try:
            probe = _PROBE.decode(value)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MessageError(
                "malformed_message", f"not an envelope or a Binance frame: {exc}"
            ) from None
        if probe.schema is not None:
            self._envelope(probe.schema, value)
        elif probe.stream is not None:
            self._binance(value, ts_ms)
        elif probe.e is not None or probe.u is not None:
            self._binance(_as_combined(value, probe), ts_ms)
        else:
            raise MessageError("malformed_message", "not an envelope or a Binance frame")

    def _envelope(self, schema: str, value: bytes) -> None:
        decoder = _ENVELOPES.get(schema)
        if decoder is None:
            raise MessageError(
                "unexpected_schema",
                f"schema {schema!r} is not market data; expected one of {sorted(_ENVELOPES)}",
            )
        try:
            envelope = decoder.decode(value)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MessageError("malformed_message", f"{schema}: {exc}") from None
        if envelope.version != 1:
            raise MessageError(
                "unsupported_version", f"{schema} version {envelope.version}; this reads 1"
            )
        data = envelope.data
        if isinstance(data, TradeData):
            if data.side not in _SIDES:
                raise MessageError("malformed_message", f"side {data.side!r} - at `$.data.side`")
            try:
                ts_ns = parse_rfc3339_ns(data.ts)
            except ValueError as exc:
                raise MessageError("malformed_message", f"{exc} - at `$.data.ts`") from None
            self._trade(
                data.symbol,
                ts_ns,
                data.price,
                data.amount,
                _trade_id(data.trade_id),
                _SIDES[data.side],
            )
        elif isinstance(data, CandleData):
            if not data.closed:
                return  # a forming candle: only closed ones enter the flow
            try:
                timeframe = Timeframe.parse(data.timeframe)
            except ValueError as exc:
                raise MessageError("malformed_message", f"{exc} - at `$.data.timeframe`") from None
            row = [datetime_to_ns(data.ts), data.open, data.high, data.low, data.close]
            self._candle(data.symbol, timeframe, [*row, data.volume, data.trades])
        else:
            self._quote(data.symbol, data.ts, data.bid, data.ask, data.bid_size, data.ask_size)

    def _binance(self, value: bytes, ts_ms: int) -> None:
        try:
            frame = decode_frame(value)
        except FrameError as exc:
            raise MessageError("malformed_message", f"Binance frame: {exc}") from None
        if not isinstance(frame, StreamEvent):
            raise MessageError("unexpected_frame", "a Binance control frame, not market data")
        event = frame.event
        symbol = unified_symbol(event.s, self.symbol)
        if isinstance(event, TradeEvent | AggTradeEvent):
            key = event.t if isinstance(event, TradeEvent) else event.a
            side = -1 if event.m else 1  # m: the buyer was the maker, so a sell took liquidity
            self._trade(symbol, event.T * NS_PER_MS, event.p, event.q, key, side)
        elif isinstance(event, KlineEvent):
            k = event.k
            if not k.x:
                return
            try:
                timeframe = Timeframe.parse(k.i)
            except ValueError as exc:
                raise MessageError("unexpected_stream", str(exc)) from None
            self._candle(symbol, timeframe, [k.t * NS_PER_MS, k.o, k.h, k.l, k.c, k.v, k.n])
        elif isinstance(event, BookTickerEvent):
            when = ns_to_datetime(ts_ms * NS_PER_MS)
            self._quote(symbol, when, event.b, event.a, event.B, event.A)

    def _trade(self, symbol: str, *row: Any) -> None:
        self._trades.setdefault(symbol, []).append(list(row))

    def _candle(self, symbol: str, timeframe: Timeframe, row: list[Any]) -> None:
        self._candles.setdefault((symbol, timeframe), []).append(row)

    def _quote(self, symbol: str, ts: datetime, *prices: float) -> None:
        bid, ask, bid_size, ask_size = prices
        if ask < bid:
            raise MessageError("invalid_quote", f"crossed book: ask {ask} < bid {bid}")
        self._ordered.append(
            BookTop(
                symbol=symbol,
                ts=ts,
                bid=bid,
                ask=ask,
                bid_size=max(bid_size, 0.0),
                ask_size=max(ask_size, 0.0),
                source=self.source,
            )
        )

    def drain(self) -> list[Any]:
        """Everything decoded since the last drain, as flow items."""
        items: list[Any] = []
        for symbol, rows in self._trades.items():
            ts, price, amount, ids, sides = zip(*rows, strict=True)
            items.append(
                TradeBatch.from_columns(symbol, ts, price, amount, ids, sides, source=self.source)
            )
        for (symbol, timeframe), rows in self._candles.items():
            columns = list(zip(*rows, strict=True))
            items.append(CandleBatch.from_columns(symbol, timeframe, *columns, source=self.source))
        items.extend(self._ordered)
        self._trades, self._candles, self._ordered = {}, {}, []
        return items


def _as_combined(value: bytes, probe: _Probe) -> bytes:
    """A bare Binance event wrapped as a combined-stream frame, so one decoder reads both."""
    if probe.e == "kline":
        try:
            interval = _KLINE_INTERVAL.decode(value).k.i
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MessageError("malformed_message", f"Binance kline: {exc}") from None
        stream = f"x@kline_{interval}"
    elif probe.e in ("trade", "aggTrade"):
        stream = f"x@{probe.e}"
    elif probe.e is None:
        stream = "x@bookTicker"
    else:
        raise MessageError("unexpected_stream", f"Binance event {probe.e!r} is not market data")
    return b'{"stream":"' + stream.encode() + b'","data":' + value + b"}"
