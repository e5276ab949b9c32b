"""Strict, fast decoding of Binance combined-stream frames (msgspec).

:func:`decode_frame` turns one text frame into a :class:`StreamEvent` (trade, aggTrade, kline,
bookTicker), a :class:`ControlReply` (answer to SUBSCRIBE), or a :class:`ServerShutdown`; any
frame that is not valid JSON, misses a field, carries a wrong type or a non-finite number raises
:class:`FrameError` with a message naming the field — the caller dead-letters the raw text.
Numbers arrive as decimal strings and are decoded straight to floats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import msgspec

from connectors.feed.frames import FrameError

Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
"""Ids, counts and epoch milliseconds: non-negative and within int64 (the batch columns)."""


class TradeEvent(msgspec.Struct, frozen=True):
    """``<symbol>@trade``."""

    e: str
    E: Count
    s: str
    t: Count
    p: float
    q: float
    T: Count
    m: bool


class AggTradeEvent(msgspec.Struct, frozen=True):
    """``<symbol>@aggTrade``: trades of one taker order at one price, ids ``f..l``."""

    e: str
    E: Count
    s: str
    a: Count
    p: float
    q: float
    f: Count
    l: Count  # noqa: E741 - Binance's field name
    T: Count
    m: bool


class KlineBody(msgspec.Struct, frozen=True):
    t: Count
    T: Count
    s: str
    i: str
    o: float
    c: float
    h: float
    l: float  # noqa: E741 - Binance's field name
    v: float
    n: Count
    x: bool


class KlineEvent(msgspec.Struct, frozen=True):
    """``<symbol>@kline_<interval>``; ``k.x`` is true once the candle has closed."""

    e: str
    E: Count
    s: str
    k: KlineBody


class BookTickerEvent(msgspec.Struct, frozen=True):
    """``<symbol>@bookTicker`` (spot: no event time)."""

    u: Count
    s: str
    b: float
    B: float
    a: float
    A: float


Event = TradeEvent | AggTradeEvent | KlineEvent | BookTickerEvent


class _Envelope(msgspec.Struct, frozen=True):
    stream: str | None = None
    data: msgspec.Raw = msgspec.Raw()
    id: int | str | None = None
    result: msgspec.Raw = msgspec.Raw()
    code: int | None = None
    msg: str | None = None
    error: dict | None = None
    e: str | None = None
    E: int | None = None


@dataclass(frozen=True, slots=True)
class StreamEvent:
    stream: str
    event: Event


@dataclass(frozen=True, slots=True)
class ControlReply:
    """Reply to a control request; ``error`` is set when Binance rejected it."""

    id: int | str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ServerShutdown:
    event_ms: int | None


Frame = StreamEvent | ControlReply | ServerShutdown

_ENVELOPE = msgspec.json.Decoder(_Envelope)
_DECODERS: dict[str, msgspec.json.Decoder] = {
    "trade": msgspec.json.Decoder(TradeEvent, strict=False),
    "aggTrade": msgspec.json.Decoder(AggTradeEvent, strict=False),
    "kline": msgspec.json.Decoder(KlineEvent, strict=False),
    "bookTicker": msgspec.json.Decoder(BookTickerEvent, strict=False),
}
_FINITE_FIELDS: dict[type, tuple[str, ...]] = {
    TradeEvent: ("p", "q"),
    AggTradeEvent: ("p", "q"),
    BookTickerEvent: ("b", "B", "a", "A"),
}
_EXPECTED_E = {"trade": "trade", "aggTrade": "aggTrade", "kline": "kline"}


def stream_kind(stream: str) -> str:
    """``btcusdt@kline_1m`` → ``kline``; ``btcusdt@trade`` → ``trade``."""
    _, _, suffix = stream.partition("@")
    return "kline" if suffix.startswith("kline_") else suffix


def decode_frame(text: str | bytes) -> Frame:
    """Decode one combined-stream frame.

    >>> decode_frame('{"stream":"btcusdt@trade","data":{"e":"trade","E":2,"s":"BTCUSDT",'
    ...              '"t":7,"p":"1.50","q":"2","T":1,"m":true,"M":true}}').event.p
    1.5
    >>> decode_frame('{"result":null,"id":3}')
    ControlReply(id=3, error=None)
    >>> decode_frame('{"stream":"btcusdt@trade","data":{"e":"trade","p":"x"}}')
    Traceback (most recent call last):
    ...
    connectors.feed.frames.FrameError: btcusdt@trade: Expected `float`, got `str` - at `$.p`
    """
    try:
        envelope = _ENVELOPE.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FrameError("malformed_frame", f"not a Binance frame: {exc}") from None
    if envelope.stream is not None:
        return StreamEvent(envelope.stream, _decode_event(envelope.stream, bytes(envelope.data)))
    if envelope.e == "serverShutdown":
        return ServerShutdown(envelope.E)
    if envelope.id is not None or envelope.code is not None or envelope.error is not None:
        if envelope.code is not None or envelope.error is not None:
            detail = envelope.msg or str(envelope.error)
            return ControlReply(envelope.id, f"code {envelope.code}: {detail}")
        return ControlReply(envelope.id)
    raise FrameError("unexpected_frame", "frame is neither a stream event nor a control reply")


def _decode_event(stream: str, data: bytes) -> Event:
    kind = stream_kind(stream)
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise FrameError("unexpected_stream", f"{stream}: unsupported stream kind", stream)
    if not data:
        raise FrameError("malformed_frame", f"{stream}: frame has no data", stream)
    try:
        event = decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FrameError("malformed_frame", f"{stream}: {exc}", stream) from None
    expected = _EXPECTED_E.get(kind)
    if expected is not None and getattr(event, "e", None) != expected:
        raise FrameError(
            "malformed_frame",
            f"{stream}: event type {event.e!r}, expected {expected!r} - at `$.e`",
            stream,
        )
    for name in _FINITE_FIELDS.get(type(event), ()):
        if not math.isfinite(getattr(event, name)):
            raise FrameError(
                "malformed_frame", f"{stream}: non-finite number - at `$.{name}`", stream
            )
    if isinstance(event, KlineEvent):
        for name in ("o", "h", "l", "c", "v"):
            if not math.isfinite(getattr(event.k, name)):
                raise FrameError(
                    "malformed_frame", f"{stream}: non-finite number - at `$.k.{name}`", stream
                )
    return event
