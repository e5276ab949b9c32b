"""The Kafka market-data source: formats, dead letters, partitions and exact resume."""

from __future__ import annotations

import time
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main
from confluent_kafka import Producer

from connectors.kafka.config import KafkaConfig
from connectors.kafka.envelope import EnvelopeEncoder
from connectors.kafka.market import MarketDecoder
from connectors.kafka.source import KafkaMarketSource
from schemas.batches import CandleBatch, TradeBatch
from schemas.market import BookTop
from schemas.records import DeadLetter

KLINE = (
    b'{"stream":"ethbtc@kline_1m","data":{"e":"kline","E":9,"s":"ETHBTC","k":{"t":60000,'
    b'"T":119999,"s":"ETHBTC","i":"1m","o":"0.07","c":"0.071","h":"0.072","l":"0.069",'
    b'"v":"12","n":5,"x":true}}}'
)
BOOK = b'{"u":1,"s":"ETHBTC","b":"0.07","B":"3","a":"0.0701","A":"4"}'


def test_envelopes_round_trip_through_the_decoder(sample_records: list[Any]) -> None:
    bars, _, trades = sample_records[:3]
    quote = sample_records[4]
    encoder = EnvelopeEncoder()
    decoder = MarketDecoder("kafka")
    for i, message in enumerate(m for r in (trades, bars, quote) for m in encoder.encode(r)):
        decoder.add(message.value, "t", 0, i, 0)
    got_trades, got_bars, got_quote = decoder.drain()
    assert isinstance(got_trades, TradeBatch) and isinstance(got_bars, CandleBatch)
    assert got_trades.ts_ns.tolist() == trades.ts_ns.tolist()
    assert got_trades.trade_id.tolist() == [17, -1] and got_trades.side.tolist() == [1, 0]
    assert list(got_bars.to_candles()) == list(bars.to_candles())
    assert got_quote == quote.model_copy(update={"source": "kafka"})


def test_binance_frames_bare_and_combined() -> None:
    decoder = MarketDecoder("kafka")
    decoder.add(KLINE, "raw", 0, 0, 0)
    decoder.add(BOOK, "raw", 0, 1, 1_000)
    bars, quote = decoder.drain()
    assert (bars.symbol, bars.timeframe.value, bars.ts_ns.tolist()) == ("ETH/BTC", "1m", [60e9])
    assert bars.trades.tolist() == [5] and bars.close.tolist() == [0.071]
    assert isinstance(quote, BookTop) and quote.ts.timestamp() == 1.0 and quote.ask == 0.0701


def test_malformed_messages_become_dead_letters_with_their_place_and_bytes() -> None:
    decoder = MarketDecoder("kafka")
    bad = [
        b"\xff\xfe not json",
        b'{"schema":"quorum.v1.candles","version":1,"id":"x","key":"k","ts":null,"data":{}}',
        b'{"schema":"quorum.v1.fills","version":1,"id":"x","key":"k","ts":null,"data":{}}',
        b'{"e":"trade","s":"XYZ","t":1,"p":"1","q":"1","T":1,"E":1,"m":true}',
        b"",
    ]
    for offset, value in enumerate(bad):
        decoder.add(value, "in", 2, 40 + offset, 0)
    letters = decoder.drain()
    assert all(isinstance(d, DeadLetter) for d in letters) and len(letters) == 5
    assert [d.reason for d in letters] == [
        "malformed_message", "malformed_message", "unexpected_schema", "unknown_market",
        "malformed_message",
    ]  # fmt: skip
    assert [d.detail.split(":")[0] for d in letters] == [
        f"in partition 2 offset {40 + i}" for i in range(5)
    ]
    assert letters[0].raw == "\\xff\\xfe not json" and letters[0].source == "kafka:in"


def _trade(i: int) -> bytes:
    return b'{"e":"trade","E":1,"s":"ETHBTC","t":%d,"p":"0.07","q":"1","T":%d,"m":false}' % (
        i,
        1000 * i,
    )


def test_partitions_resume_exactly_from_their_offsets(mock_cluster: str) -> None:
    producer = Producer({"bootstrap.servers": mock_cluster})
    for i in range(10):
        producer.produce("resume", _trade(i), partition=i % 2)
    assert producer.flush(10) == 0
    source = KafkaMarketSource(KafkaConfig(bootstrap_servers=mock_cluster), ["resume"])
    assert source.list_parts() == [f"resume#{p}" for p in range(4)]  # mock: 4 partitions
    part = source.build_part("in", "resume#0", 3)  # offsets 0..2 were emitted before a crash
    seen: list[int] = []
    deadline = time.monotonic() + 30
    while len(seen) < 2 and time.monotonic() < deadline:
        seen += [i for b in part.next_batch() for i in b.trade_id.tolist()]
        time.sleep(0.01)  # the consumer fetches in the background; next_batch never blocks
    assert seen == [6, 8] and part.snapshot() == 5
    part.close()


def test_until_idle_ends_a_flow_fed_by_a_topic(mock_cluster: str) -> None:
    producer = Producer({"bootstrap.servers": mock_cluster})
    for i in range(5):
        producer.produce("idle", _trade(i), partition=0)
    producer.produce("idle", b"{broken", partition=1)
    assert producer.flush(10) == 0
    out: list[Any] = []
    flow = Dataflow("idle")
    source = KafkaMarketSource(
        KafkaConfig(bootstrap_servers=mock_cluster), ["idle"], until_idle=0.5
    )
    op.output("out", op.input("in", flow, source), TestingSink(out))
    run_main(flow)
    trades = [i for b in out if isinstance(b, TradeBatch) for i in b.trade_id.tolist()]
    assert trades == [0, 1, 2, 3, 4]
    assert [d.detail for d in out if isinstance(d, DeadLetter)] == [
        "idle partition 1 offset 0: not an envelope or a Binance frame: "
        "JSON is malformed: object keys must be strings (byte 1)"
    ]
