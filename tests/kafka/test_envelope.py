"""The envelope: ids from natural keys, keys, one message per batch row, schemas that match."""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson
import pytest

from connectors.kafka.envelope import EnvelopeEncoder, decode_envelope, models, trade_messages
from connectors.kafka.json_schemas import SCHEMA_DIR, envelope_schema, load_schema, render
from connectors.kafka.market import MarketDecoder
from connectors.kafka.topics import Kind
from schemas.batches import TradeBatch
from schemas.market import Candle


def _encode_all(records: list[Any]) -> list[Any]:
    encoder = EnvelopeEncoder(portfolio_key="book-1")
    return [m for r in records for m in encoder.encode(r)]


def test_checked_in_schemas_equal_the_generated_ones() -> None:
    stale = []
    for kind in Kind:
        path = SCHEMA_DIR / f"quorum.v1.{kind.value}.json"
        if not path.exists() or path.read_text() != render(envelope_schema(kind)):
            stale.append(path.name)
    assert not stale, (
        f"JSON Schemas out of date with the pydantic models: {stale}; run "
        "`quorum schemas --write`, review the diff, bump VERSIONS in connectors/kafka/envelope.py"
    )
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(
        f"quorum.v1.{k.value}.json" for k in Kind
    )


def test_every_kind_is_produced_and_validates_against_its_schema(sample_records) -> None:
    messages = _encode_all(sample_records)
    assert {m.kind for m in messages} == set(Kind)
    validators = {
        k: jsonschema.Draft202012Validator(
            load_schema(k), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        for k in Kind
    }
    for message in messages:
        value = orjson.loads(message.value)
        validators[message.kind].validate(value)
        assert value["schema"] == f"quorum.v1.{message.kind.value}"
        assert (value["id"], value["key"]) == (message.id, message.key)


def test_data_is_the_canonical_record(sample_records) -> None:
    """Every ``data`` validates back into its pydantic model (batch rows included)."""
    for message in _encode_all(sample_records):
        model = models()[message.kind]
        if message.kind is Kind.AUDIT:
            continue  # a dataclass: checked by its schema above
        model.model_validate(decode_envelope(message.value).data)


def test_candle_rows_equal_the_pydantic_candles(sample_records) -> None:
    bars = sample_records[0]
    messages = EnvelopeEncoder().encode(bars)
    decoded = [Candle.model_validate(decode_envelope(m.value).data) for m in messages]
    assert decoded == list(bars.to_candles())
    assert [decode_envelope(m.value).ts for m in messages] == [
        "2022-01-03T12:00:00.000000000Z",
        "2022-01-03T12:15:00.000000000Z",
    ]


def test_nanosecond_trade_times_survive_a_topic() -> None:
    """A venue's ns trade time: the envelope ``ts`` and ``data.ts`` carry all nine digits, and
    the Kafka source reads the same ns back (issue 10: they were cut to microseconds)."""
    ts_ns = [1_641_211_200_123_456_789, 1_641_211_200_123_456_790]
    batch = TradeBatch.from_columns("BTC/USDT", ts_ns, [46000.5, 46000.0], [0.1, 0.2], [7, 8],
                                    [1, -1], source="venue")  # fmt: skip
    messages = list(trade_messages(batch))
    envelopes = [decode_envelope(m.value) for m in messages]
    assert [e.ts for e in envelopes] == [
        "2022-01-03T12:00:00.123456789Z",
        "2022-01-03T12:00:00.123456790Z",
    ]
    assert [e.data["ts"] for e in envelopes] == [e.ts for e in envelopes]
    decoder = MarketDecoder("kafka")
    for offset, message in enumerate(messages):
        decoder.add(message.value, "quorum.v1.trades", 0, offset, 0)
    (trades,) = decoder.drain()
    assert trades.ts_ns.tolist() == ts_ns


def test_an_unreadable_trade_time_is_a_dead_letter() -> None:
    (message,) = trade_messages(
        TradeBatch.from_columns("BTC/USDT", [0], [1.0], [1.0], [1], [1], source="venue")
    )
    decoder = MarketDecoder("kafka")
    decoder.add(message.value.replace(b"1970-01-01T00:00:00.000000000Z", b"yesterday"),
                "quorum.v1.trades", 0, 5, 0)  # fmt: skip
    (letter,) = decoder.drain()
    assert letter.reason == "malformed_message"
    assert "'yesterday' is not an RFC 3339 time" in letter.detail


def test_ids_are_deterministic_and_distinct(sample_records) -> None:
    first = [(m.kind, m.id) for m in _encode_all(sample_records)]
    again = [(m.kind, m.id) for m in _encode_all(sample_records)]
    assert first == again
    assert len(set(first)) == len(first)


def test_keys_are_symbols_or_the_portfolio(sample_records) -> None:
    keys = {m.kind: m.key for m in _encode_all(sample_records)}
    assert keys.pop(Kind.EQUITY) == "book-1"
    assert keys.pop(Kind.AUDIT) == "book-1"
    assert set(keys.values()) == {"BTC/USDT"}


def test_warming_up_indicators_are_left_out(sample_records) -> None:
    features = [m for m in _encode_all(sample_records) if m.kind is Kind.FEATURES]
    values = [decode_envelope(m.value).data["values"] for m in features]
    assert values == [{"ema_12": 1.0}, {"rsi_14": 55.5, "ema_12": 1.0}]


def test_order_updates_get_one_id_each(sample_records) -> None:
    order = next(r for r in sample_records if type(r).__name__ == "Order")
    filled = type(order).model_validate(
        {**order.model_dump(), "status": "filled", "filled_quantity": order.quantity}
    )
    ids = [m.id for r in (order, filled) for m in EnvelopeEncoder().encode(r)]
    assert ids == [
        "ord-1|partially_filled|0.25",
        "order|ord-1|partially_filled|0.25",
        "ord-1|filled|0.5",
        "order|ord-1|filled|0.5",
    ]


@pytest.mark.parametrize("bad", [b"", b"{", b'{"schema": "quorum.v1.trades"}'])
def test_malformed_values_raise(bad: bytes) -> None:
    with pytest.raises(ValueError):
        decode_envelope(bad)
