"""The JSON envelope of every Quorum message, and how each record becomes one.

A message value is ``{"schema": "quorum.v1.<kind>", "version": N, "id": …, "key": …, "ts": …,
"data": {…}}``: ``data`` is the canonical record (its pydantic JSON form), ``key`` the message key
(the symbol; the portfolio for portfolio-wide records), ``ts`` the record's event time (RFC 3339,
UTC, always nine fractional digits: nanoseconds, so trade times keep their full precision) and
``id`` its idempotency key, built from the record's natural key so that the same record
re-emitted after a crash carries the same ``id`` (consumers dedupe on it). Columnar batches are
exploded to one message per row. Encoding is msgspec around pydantic-core's JSON of the record.

>>> from datetime import UTC, datetime
>>> from decimal import Decimal
>>> from schemas.batches import CandleBatch
>>> from schemas.trading import Fill
>>> encoder = EnvelopeEncoder()
>>> fill = Fill(fill_id="f-1", order_id="o-1", asset="BTC/USDT", side="buy",
...             quantity=Decimal("0.5"), price=Decimal("100.25"), fee=Decimal("0.05"),
...             ts=datetime(2022, 1, 1, tzinfo=UTC))
>>> [(m.kind.value, m.key, m.id) for m in encoder.encode(fill)]
[('fills', 'BTC/USDT', 'f-1'), ('audit', 'portfolio', 'fill|f-1')]
>>> envelope = decode_envelope(encoder.encode(fill)[0].value)
>>> envelope.schema, envelope.version, envelope.ts, envelope.data["price"]
('quorum.v1.fills', 2, '2022-01-01T00:00:00.000000000Z', '100.25')
>>> bars = CandleBatch.from_columns("A/B", "1m", [0, 60_000_000_000], [1, 2], [2, 3], [1, 2],
...                                 [2, 3], [5, 6])
>>> [m.id for m in encoder.encode(bars)]
['A/B|1m|0', 'A/B|1m|60000000000']
>>> decode_envelope(encoder.encode(bars)[1].value).data["close"]
3.0
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import numpy as np
import orjson
import pydantic_core

from connectors.kafka.topics import Kind, schema_name
from operators.audit.chain import AuditEvent, canonical_json
from operators.audit.events import to_audit_event
from operators.candles.minute import LateTrades
from schemas.batches import CandleBatch, FeatureBatch, TradeBatch
from schemas.common import DEFAULT_PORTFOLIO, datetime_to_ns
from schemas.market import BookTop, Candle, FeedHealth, Trade
from schemas.operations import EquityPoint, ReviewTicket
from schemas.records import DeadLetter, LateTrade
from schemas.signals import FusedSignal, Signal
from schemas.trading import Fill, Order, Position, RiskDecision

_WITH_PORTFOLIO = (Kind.RISK_DECISIONS, Kind.ORDERS, Kind.FILLS, Kind.POSITIONS, Kind.EQUITY)
VERSIONS: dict[Kind, int] = {
    **dict.fromkeys(Kind, 1),
    **dict.fromkeys((*_WITH_PORTFOLIO, Kind.REVIEWS), 2),  # v2: the records carry `portfolio`
}
"""Envelope ``version`` per kind: bump it with the checked-in JSON Schema on any model change."""


class Envelope(msgspec.Struct, frozen=True):
    """The message value as it is on the wire (field order fixed)."""

    schema: str
    version: int
    id: str
    key: str
    ts: str | None
    data: msgspec.Raw


class DecodedEnvelope(msgspec.Struct, frozen=True):
    """An envelope read back, ``data`` as plain JSON values."""

    schema: str
    version: int
    id: str
    key: str
    ts: str | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    """One encoded record, ready for a topic of its kind."""

    kind: Kind
    key: str
    id: str
    value: bytes


_ENCODER = msgspec.json.Encoder()
_SCHEMA_NAMES = {kind: schema_name(kind) for kind in Kind}
_DECODER = msgspec.json.Decoder(DecodedEnvelope)
_SIDES = {1: "buy", -1: "sell"}


def decode_envelope(value: bytes) -> DecodedEnvelope:
    """Parse a message value; raises ``msgspec.DecodeError``/``ValidationError`` when malformed."""
    return _DECODER.decode(value)


def rfc3339_ns_column(ts_ns: np.ndarray) -> list[str]:
    """RFC 3339 UTC strings with nine fractional digits of a column of ns timestamps.

    >>> rfc3339_ns_column(np.array([0, 1_641_211_200_123_456_789], dtype=np.int64))
    ['1970-01-01T00:00:00.000000000Z', '2022-01-03T12:00:00.123456789Z']
    """
    stamps = np.asarray(ts_ns, dtype=np.int64).astype("datetime64[ns]")
    return np.datetime_as_string(stamps, unit="ns", timezone="UTC").tolist()


def rfc3339_ns(ts_ns: int) -> str:
    """One ns timestamp as RFC 3339 UTC with nine fractional digits (the envelope ``ts``).

    >>> rfc3339_ns(1_641_211_200_123_456_789)
    '2022-01-03T12:00:00.123456789Z'
    """
    return rfc3339_ns_column(np.array([ts_ns], dtype=np.int64))[0]


_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time (up to nine fractional digits).

    >>> parse_rfc3339_ns("2022-01-03T12:00:00.123456789Z")
    1641211200123456789
    >>> parse_rfc3339_ns("2022-01-03T13:00:00.5+01:00")
    1641211200500000000
    >>> parse_rfc3339_ns("2022-01-03 12:00")
    Traceback (most recent call last):
    ...
    ValueError: '2022-01-03 12:00' is not an RFC 3339 time (e.g. 2022-01-03T12:00:00.123456789Z)
    """
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time (e.g. 2022-01-03T12:00:00.123456789Z)")
    day, clock, fraction, offset = match.groups()
    offset = "+00:00" if offset in ("Z", "z") else offset
    whole = datetime_to_ns(datetime.fromisoformat(f"{day}T{clock}{offset}"))
    return whole + int((fraction or "").ljust(9, "0"))


def _envelope_ts(value: datetime | None) -> str | None:
    return None if value is None else rfc3339_ns(datetime_to_ns(value))


def iso_column(ts_ns: np.ndarray) -> list[str]:
    """ISO 8601 strings of a column of ns timestamps, as pydantic writes them (vectorized).

    >>> iso_column(np.array([0, 1_500_000_000], dtype=np.int64))
    ['1970-01-01T00:00:00Z', '1970-01-01T00:00:01.500000Z']
    """
    micros = (np.asarray(ts_ns, dtype=np.int64) // 1000).astype("datetime64[us]")
    whole = np.datetime_as_string(micros, unit="s", timezone="UTC")
    exact = np.datetime_as_string(micros, unit="us", timezone="UTC")
    return np.where(micros.astype(np.int64) % 1_000_000 == 0, whole, exact).tolist()


def _row_envelope(kind: Kind, record_id: str, key: str, ts: str, data: dict[str, Any]) -> bytes:
    """A batch row's envelope in one encoder call (the hot path of the Kafka sink)."""
    return orjson.dumps(
        {
            "schema": _SCHEMA_NAMES[kind],
            "version": VERSIONS[kind],
            "id": record_id,
            "key": key,
            "ts": ts,
            "data": data,
        }
    )


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


# --- natural keys: the same record always gets the same id ------------------------------------


def trade_id_of(symbol: str, trade_id: str | None, ts_ns: int, price: float, amount: float) -> str:
    """Venue id when known, else the trade's time, price and size."""
    if trade_id is not None:
        return f"{symbol}|{trade_id}"
    return f"{symbol}|{ts_ns}|{price!r}|{amount!r}"


def _record_digest(record: Any) -> str:
    return _digest(pydantic_core.to_json(record))


_AUDIT_IDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "fused_signal": lambda p: p["fused_id"],
    "order_intent": lambda p: p["intent_id"],
    "risk_decision": lambda p: p["decision_id"],
    "order": lambda p: f"{p['order_id']}|{p['status']}|{p['filled_quantity']}",
    "fill": lambda p: p["fill_id"],
    "review": lambda p: f"{p['fused_id']}|{p['status']}",
    "manual_action": lambda p: p["action"]["action_id"],
}


def _audit_id(event: AuditEvent) -> str:
    """Audit kind + the audited record's own id (a digest of the payload for the others)."""
    natural = _AUDIT_IDS.get(event.kind)
    if natural is not None:
        return f"{event.kind}|{natural(event.payload)}"
    return f"{event.kind}|{datetime_to_ns(event.ts)}|{_digest(canonical_json(event.payload))}"


@dataclass(frozen=True, slots=True)
class _Spec:
    """How one record type is published: its kind, id, key and event time."""

    kind: Kind
    id: Callable[[Any], str]
    key: Callable[[Any, str], str]
    ts: Callable[[Any], datetime | None]


def _by_symbol(record: Any, _portfolio: str) -> str:
    return record.symbol


def _by_asset(record: Any, _portfolio: str) -> str:
    return record.asset


def _by_portfolio(record: Any, portfolio: str) -> str:
    """``portfolio`` (the configured key) for the default portfolio's records and the audit
    chain; a portfolio of the ``portfolios:`` section is keyed by its id."""
    own = getattr(record, "portfolio", DEFAULT_PORTFOLIO)
    return portfolio if own == DEFAULT_PORTFOLIO else own


def _in_portfolio(record: Any, record_id: str) -> str:
    """``record_id`` made unique across portfolios (the default portfolio's ids as they were)."""
    own = record.portfolio
    return record_id if own == DEFAULT_PORTFOLIO else f"{own}|{record_id}"


_SPECS: dict[type, _Spec] = {
    Trade: _Spec(
        Kind.TRADES,
        lambda t: trade_id_of(t.symbol, t.trade_id, datetime_to_ns(t.ts), t.price, t.amount),
        _by_symbol,
        lambda t: t.ts,
    ),
    BookTop: _Spec(
        Kind.QUOTES,
        lambda q: f"{q.symbol}|{datetime_to_ns(q.ts)}|{_record_digest(q)}",
        _by_symbol,
        lambda q: q.ts,
    ),
    Candle: _Spec(
        Kind.CANDLES,
        lambda c: f"{c.symbol}|{c.timeframe.value}|{datetime_to_ns(c.ts)}",
        _by_symbol,
        lambda c: c.ts,
    ),
    Signal: _Spec(Kind.SIGNALS, lambda s: s.signal_id, _by_asset, lambda s: s.timestamp),
    FusedSignal: _Spec(Kind.FUSED_SIGNALS, lambda f: f.fused_id, _by_asset, lambda f: f.timestamp),
    RiskDecision: _Spec(
        Kind.RISK_DECISIONS, lambda r: r.decision_id, _by_asset, lambda r: r.timestamp
    ),
    Order: _Spec(
        Kind.ORDERS,
        lambda o: f"{o.order_id}|{o.status.value}|{o.filled_quantity}",
        _by_asset,
        lambda o: o.updated_at,
    ),
    Fill: _Spec(Kind.FILLS, lambda f: f.fill_id, _by_asset, lambda f: f.ts),
    Position: _Spec(
        Kind.POSITIONS,
        lambda p: f"{p.asset}|{datetime_to_ns(p.updated_at)}|{_record_digest(p)}",
        _by_asset,
        lambda p: p.updated_at,
    ),
    EquityPoint: _Spec(
        Kind.EQUITY,
        lambda e: _in_portfolio(e, f"equity|{datetime_to_ns(e.ts)}"),
        _by_portfolio,
        lambda e: e.ts,
    ),
    DeadLetter: _Spec(
        Kind.DEAD_LETTERS,
        lambda d: (
            f"{d.source}|{d.reason}|{_digest(d.raw.encode(errors='surrogatepass'))}"
            + (f"|{d.occurrence}" if d.occurrence else "")  # two identical rows are two
        ),
        lambda d, _p: d.symbol or d.source,
        lambda d: d.ts,
    ),
    LateTrade: _Spec(
        Kind.LATE_TRADES,
        lambda t: trade_id_of(t.symbol, t.trade_id, datetime_to_ns(t.ts), t.price, t.amount),
        _by_symbol,
        lambda t: t.ts,
    ),
    FeedHealth: _Spec(
        Kind.FEED_HEALTH,
        lambda h: f"{h.source}|{h.symbol}|{datetime_to_ns(h.ts)}|{h.status.value}|{h.event}",
        _by_symbol,
        lambda h: h.ts,
    ),
    ReviewTicket: _Spec(
        Kind.REVIEWS,
        lambda r: _in_portfolio(r, f"{r.fused_id}|{r.status.value}"),
        _by_asset,
        lambda r: r.updated_at,
    ),
    AuditEvent: _Spec(Kind.AUDIT, _audit_id, _by_portfolio, lambda a: a.ts),
}


def published_kinds() -> dict[str, Kind]:
    """Record type name → the kind it is published as."""
    return {t.__name__: spec.kind for t, spec in _SPECS.items()}


def _envelope(kind: Kind, record_id: str, key: str, ts: str | None, data: bytes) -> bytes:
    return _ENCODER.encode(
        Envelope(schema_name(kind), VERSIONS[kind], record_id, key, ts, msgspec.Raw(data))
    )


class EnvelopeEncoder:
    """Turns flow items into :class:`Message` s; types with no kind (summaries) give none.

    Every audited record (see :mod:`operators.audit.events`) is also published to the ``audit``
    kind as ``{kind, ts, payload}``.
    """

    def __init__(self, portfolio_key: str = "portfolio") -> None:
        self.portfolio_key = portfolio_key

    def encode(self, item: Any) -> list[Message]:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            item = item[1]  # (key, value) pairs of keyed streams
        if isinstance(item, CandleBatch):
            return list(candle_messages(item))
        if isinstance(item, FeatureBatch):
            return list(feature_messages(item))
        if isinstance(item, TradeBatch):
            return list(trade_messages(item))
        if isinstance(item, LateTrades):
            return [m for record in item.to_records() for m in self.encode(record)]
        messages = []
        spec = _SPECS.get(type(item))
        if spec is not None:
            messages.append(self._message(spec, item, pydantic_core.to_json(item)))
        audit = to_audit_event(item)
        if audit is not None:
            data = orjson.dumps(
                {"kind": audit.kind, "ts": audit.ts, "payload": audit.payload},
                option=orjson.OPT_UTC_Z,
            )
            messages.append(self._message(_SPECS[AuditEvent], audit, data))
        return messages

    def _message(self, spec: _Spec, record: Any, data: bytes) -> Message:
        record_id = spec.id(record)
        key = spec.key(record, self.portfolio_key)
        value = _envelope(spec.kind, record_id, key, _envelope_ts(spec.ts(record)), data)
        return Message(spec.kind, key, record_id, value)


def trade_messages(batch: TradeBatch) -> Iterator[Message]:
    """One ``trades`` message per row (the JSON of :class:`~schemas.market.Trade`, its ``ts``
    with nine fractional digits: a venue's nanosecond trade time is kept whole)."""
    symbol = batch.symbol
    for ts_ns, ts, price, amount, tid, side in zip(
        batch.ts_ns.tolist(),
        rfc3339_ns_column(batch.ts_ns),
        batch.price.tolist(),
        batch.amount.tolist(),
        batch.trade_id.tolist(),
        batch.side.tolist(),
        strict=True,
    ):
        trade_id = str(tid) if tid >= 0 else None
        data = {
            "symbol": symbol,
            "ts": ts,
            "price": price,
            "amount": amount,
            "trade_id": trade_id,
            "side": _SIDES.get(side),
            "source": batch.source,
        }
        record_id = trade_id_of(symbol, trade_id, ts_ns, price, amount)
        value = _row_envelope(Kind.TRADES, record_id, symbol, ts, data)
        yield Message(Kind.TRADES, symbol, record_id, value)


def _candle_rows(batch: CandleBatch) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(id, envelope ts, data)`` per bar; ``data.ts`` as pydantic writes a candle's open time."""
    symbol, tf = batch.symbol, batch.timeframe.value
    for ts_ns, envelope_ts, ts, o, h, lo, c, v, n in zip(
        batch.ts_ns.tolist(),
        rfc3339_ns_column(batch.ts_ns),
        iso_column(batch.ts_ns),
        batch.open.tolist(),
        batch.high.tolist(),
        batch.low.tolist(),
        batch.close.tolist(),
        batch.volume.tolist(),
        batch.trades.tolist(),
        strict=True,
    ):
        data = {
            "symbol": symbol,
            "timeframe": tf,
            "ts": ts,
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": v,
            "trades": n,
            "closed": True,
        }
        yield f"{symbol}|{tf}|{ts_ns}", envelope_ts, data


def candle_messages(batch: CandleBatch) -> Iterator[Message]:
    """One ``candles`` message per row (the same JSON as :class:`~schemas.market.Candle`)."""
    for record_id, ts, data in _candle_rows(batch):
        value = _row_envelope(Kind.CANDLES, record_id, batch.symbol, ts, data)
        yield Message(Kind.CANDLES, batch.symbol, record_id, value)


def feature_messages(batch: FeatureBatch) -> Iterator[Message]:
    """One ``features`` message per row (:class:`~schemas.market.FeatureSet`).

    Indicators still warming up (NaN) are left out of ``values``: JSON has no NaN.
    """
    names = list(batch.columns)
    columns = [batch.columns[n].tolist() for n in names]
    for i, (record_id, ts, candle) in enumerate(_candle_rows(batch.candles)):
        values = {
            n: col[i] for n, col in zip(names, columns, strict=True) if not math.isnan(col[i])
        }
        data = {
            "symbol": candle["symbol"],
            "timeframe": candle["timeframe"],
            "ts": candle["ts"],
            "close": candle["close"],
            "values": values,
        }
        value = _row_envelope(Kind.FEATURES, record_id, batch.symbol, ts, data)
        yield Message(Kind.FEATURES, batch.symbol, record_id, value)


def models() -> dict[Kind, Any]:
    """The record model of each kind's ``data`` (for the JSON Schemas)."""
    from schemas.market import FeatureSet

    by_kind: dict[Kind, Any] = {spec.kind: t for t, spec in _SPECS.items()}
    by_kind[Kind.FEATURES] = FeatureSet
    return {kind: by_kind[kind] for kind in Kind}
