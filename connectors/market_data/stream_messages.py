"""Decoding Alpaca's and Polygon's market-data WebSocket frames into one set of events.

Both vendors send a JSON array of messages per frame (Alpaca also msgpack, on request):

* Alpaca v2 (``stream.data.alpaca.markets/v2/{feed}``): ``{"T": "t"}`` trades (``i`` id,
  ``p``, ``s``, ``t`` RFC 3339 with nanoseconds — a msgpack timestamp in msgpack), ``"q"`` quotes
  (``bp bs ap as``), ``"b"`` minute bars (``o h l c v n``, ``t`` = the bar's open), and control
  messages ``success`` (``connected``/``authenticated``), ``subscription`` and ``error``
  (``code``, ``msg``);
* Polygon/Massive (``socket.polygon.io/stocks``): ``{"ev": "T"}`` trades (``i`` id string,
  ``p``, ``s``, ``t`` SIP ms, ``q`` sequence), ``"Q"`` quotes (``bp bs ap as``), ``"AM"``
  minute aggregates (``o h l c v``, ``s``/``e`` start/end ms; no trade count) and ``status``
  messages (``connected``, ``auth_success``, ``auth_failed``, ``success``, ``error`` …); its
  forex cluster (``/forex``) sends ``"C"`` quotes (``p`` the pair, ``b``/``a``, ``t`` ms; no
  sizes) and ``"CA"`` minute aggregates (``pair``, ``o h l c v``, ``s``/``e``).

:func:`decode_alpaca` and :func:`decode_polygon` return a list of :data:`StreamMessage`; a frame
that is not an array of such messages, or a message missing a field, carrying a wrong type or a
non-finite number, raises :class:`~connectors.feed.frames.FrameError` naming the field — the
session dead-letters the raw frame.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import msgpack
import orjson

from connectors.feed.frames import FrameError
from connectors.market_data.providers import _rfc3339_ns

_NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class StreamTrade:
    symbol: str
    ts_ns: int
    price: float
    size: float
    key: int  # the venue's trade id when numeric, else a stable hash of it


@dataclass(frozen=True, slots=True)
class StreamQuote:
    symbol: str
    ts_ns: int
    bid: float
    ask: float
    bid_size: float
    ask_size: float


@dataclass(frozen=True, slots=True)
class StreamBar:
    """A closed one-minute bar; ``open_ms`` is its start."""

    symbol: str
    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int


@dataclass(frozen=True, slots=True)
class Control:
    """A control message: ``kind`` is ``connected``, ``authenticated``, ``auth_failed``,
    ``subscribed`` or ``error``; ``detail`` is the vendor's text (never a key)."""

    kind: str
    detail: str = ""


StreamMessage = StreamTrade | StreamQuote | StreamBar | Control


def trade_key(venue_id: Any) -> int:
    """A numeric ordering key of a trade id: the id itself when it is an integer, else a crc32.

    >>> trade_key(96921), trade_key("52983525029461"), trade_key("A1") == trade_key("A1")
    (96921, 52983525029461, True)
    """
    if isinstance(venue_id, int) and not isinstance(venue_id, bool):
        return venue_id
    text = str(venue_id)
    return int(text) if text.isdigit() and len(text) < 19 else zlib.crc32(text.encode())


def _messages(raw: str | bytes, msgpacked: bool) -> list[dict[str, Any]]:
    try:
        if msgpacked and isinstance(raw, bytes):
            body = msgpack.unpackb(raw, timestamp=2, strict_map_key=False)
        else:
            body = orjson.loads(raw)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise FrameError("malformed_frame", f"not a vendor frame: {exc}") from None
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not all(isinstance(m, dict) for m in body):
        raise FrameError("malformed_frame", "frame is not an array of messages - at `$`")
    return body


def _number(message: dict[str, Any], name: str, where: str) -> float:
    value = message.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FrameError("malformed_frame", f"{where}: expected a number - at `$.{name}`")
    if not math.isfinite(value):
        raise FrameError("malformed_frame", f"{where}: non-finite number - at `$.{name}`")
    return float(value)


def _count(message: dict[str, Any], name: str, where: str, default: int | None = None) -> int:
    value = message.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FrameError("malformed_frame", f"{where}: expected a count - at `$.{name}`")
    return value


def _symbol(message: dict[str, Any], name: str, where: str) -> str:
    value = message.get(name)
    if not isinstance(value, str) or not value:
        raise FrameError("malformed_frame", f"{where}: expected a symbol - at `$.{name}`")
    return value


def _alpaca_time(message: dict[str, Any], where: str) -> int:
    value = message.get("t")
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # msgpack timestamp, unpacked as epoch ns
    if isinstance(value, str):
        try:
            return _rfc3339_ns(value)
        except ValueError:
            pass
    raise FrameError("malformed_frame", f"{where}: expected an RFC 3339 time - at `$.t`")


def decode_alpaca(raw: str | bytes, *, msgpacked: bool = False) -> list[StreamMessage]:
    """Messages of one Alpaca frame (JSON text, or msgpack bytes when ``msgpacked``).

    >>> decode_alpaca('[{"T":"t","S":"AAPL","i":7,"x":"V","p":185.5,"s":3,'
    ...               '"t":"2024-01-02T14:30:00.000000123Z","c":["@"],"z":"C"}]')
    [StreamTrade(symbol='AAPL', ts_ns=1704205800000000123, price=185.5, size=3.0, key=7)]
    >>> decode_alpaca('[{"T":"b","S":"AAPL","o":1,"h":2,"l":0.5,"c":1.5,"v":10,"n":4,'
    ...               '"t":"2024-01-02T14:30:00Z"}]')[0].open_ms
    1704205800000
    >>> decode_alpaca('[{"T":"error","code":402,"msg":"auth failed"}]')
    [Control(kind='auth_failed', detail='402: auth failed')]
    >>> decode_alpaca('[{"T":"q","S":"AAPL","t":"2024-01-02T14:30:00Z","bp":"x"}]')
    Traceback (most recent call last):
    ...
    connectors.feed.frames.FrameError: alpaca q AAPL: expected a number - at `$.bp`
    """
    out: list[StreamMessage] = []
    for m in _messages(raw, msgpacked):
        kind = m.get("T")
        if kind == "success":
            out.append(Control(str(m.get("msg", ""))))
        elif kind == "subscription":
            channels = {k: v for k, v in m.items() if k != "T" and v}
            out.append(Control("subscribed", str(channels)))
        elif kind == "error":
            code = m.get("code")
            detail = f"{code}: {m.get('msg', '')}"
            out.append(Control("auth_failed" if code in (401, 402) else "error", detail))
        elif kind in ("t", "q", "b"):
            symbol = _symbol(m, "S", f"alpaca {kind}")
            where = f"alpaca {kind} {symbol}"
            ts_ns = _alpaca_time(m, where)
            if kind == "t":
                size = _number(m, "s", where)
                key = trade_key(m.get("i", -1))
                out.append(StreamTrade(symbol, ts_ns, _number(m, "p", where), size, key))
            elif kind == "q":
                bid, ask = _number(m, "bp", where), _number(m, "ap", where)
                sizes = _number(m, "bs", where), _number(m, "as", where)
                out.append(StreamQuote(symbol, ts_ns, bid, ask, *sizes))
            else:
                prices = [_number(m, name, where) for name in ("o", "h", "l", "c")]
                volume, trades = _number(m, "v", where), _count(m, "n", where, 0)
                out.append(StreamBar(symbol, ts_ns // _NS_PER_MS, *prices, volume, trades))
        else:
            raise FrameError("unexpected_frame", f"alpaca message type {kind!r} - at `$.T`")
    return out


_POLYGON_STATUS = {
    "connected": "connected",
    "auth_success": "authenticated",
    "auth_failed": "auth_failed",
    "success": "subscribed",
}


def decode_polygon(raw: str | bytes) -> list[StreamMessage]:
    """Messages of one Polygon (Massive) stocks frame.

    >>> decode_polygon('[{"ev":"T","sym":"MSFT","x":4,"i":"12345","z":3,"p":114.125,"s":100,'
    ...                '"c":[0,12],"t":1536036818784,"q":3681328}]')
    [StreamTrade(symbol='MSFT', ts_ns=1536036818784000000, price=114.125, size=100.0, key=12345)]
    >>> quote = decode_polygon('[{"ev":"C","p":"EUR/USD","x":48,"a":1.1002,"b":1.1,'
    ...                        '"t":1704205800000}]')[0]
    >>> quote.symbol, quote.bid, quote.ask, quote.bid_size
    ('EUR/USD', 1.1, 1.1002, 0.0)
    >>> decode_polygon('[{"ev":"status","status":"auth_failed","message":"authentication failed"}]')
    [Control(kind='auth_failed', detail='authentication failed')]
    >>> decode_polygon('[{"ev":"AM","sym":"MSFT","o":1,"h":1,"l":1,"c":1,"v":5,"s":60000}]')
    Traceback (most recent call last):
    ...
    connectors.feed.frames.FrameError: polygon AM MSFT: expected a count - at `$.e`
    """
    out: list[StreamMessage] = []
    for m in _messages(raw, False):
        kind = m.get("ev")
        if kind == "status":
            status = str(m.get("status", ""))
            out.append(Control(_POLYGON_STATUS.get(status, "error"), str(m.get("message", ""))))
        elif kind in ("T", "Q", "AM", "C", "CA"):
            field = {"C": "p", "CA": "pair"}.get(kind, "sym")
            symbol = _symbol(m, field, f"polygon {kind}")
            where = f"polygon {kind} {symbol}"
            if kind == "T":
                ts_ns = _count(m, "t", where) * _NS_PER_MS
                price, size = _number(m, "p", where), _number(m, "s", where)
                out.append(StreamTrade(symbol, ts_ns, price, size, trade_key(m.get("i", -1))))
            elif kind == "Q":
                ts_ns = _count(m, "t", where) * _NS_PER_MS
                bid, ask = _number(m, "bp", where), _number(m, "ap", where)
                sizes = _number(m, "bs", where), _number(m, "as", where)
                out.append(StreamQuote(symbol, ts_ns, bid, ask, *sizes))
            elif kind == "C":  # a forex quote carries no sizes
                ts_ns = _count(m, "t", where) * _NS_PER_MS
                bid, ask = _number(m, "b", where), _number(m, "a", where)
                out.append(StreamQuote(symbol, ts_ns, bid, ask, 0.0, 0.0))
            else:
                start, end = _count(m, "s", where), _count(m, "e", where)
                if end - start != 60_000:
                    raise FrameError("malformed_frame", f"{where}: not a minute - at `$.e`")
                prices = [_number(m, name, where) for name in ("o", "h", "l", "c")]
                # an aggregate carries no trade count (``z`` is the average trade size)
                out.append(StreamBar(symbol, start, *prices, _number(m, "v", where), 0))
        else:
            raise FrameError("unexpected_frame", f"polygon event {kind!r} - at `$.ev`")
    return out
