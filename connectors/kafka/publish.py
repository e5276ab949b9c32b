"""Load a trades or candles file into a Kafka topic, as envelopes (demos, backfills, tests).

Rows are published in event-time order across the file's symbols (ties: file order), keyed by
symbol, through the same checked, idempotent producer as the flow's sink; the function returns
only when every message is acknowledged.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.files import LoadedTrades, load_market_data
from connectors.kafka.config import KafkaConfig
from connectors.kafka.envelope import Message, candle_messages, trade_messages
from connectors.kafka.sink import QuorumProducer, ensure_topics
from schemas.batches import CandleBatch, TradeBatch


@dataclass(frozen=True, slots=True)
class Published:
    """What :func:`publish_file` sent."""

    topic: str
    kind: str
    messages: int
    symbols: tuple[str, ...]
    unreadable_rows: int


def in_time_order(batches: list[TradeBatch | CandleBatch]) -> Iterator[Message]:
    """The batches' messages merged by event time (ties: batch order, then row order)."""

    def timed(batch: TradeBatch | CandleBatch, order: int) -> Iterator[tuple[int, int, int, Any]]:
        encode = trade_messages if isinstance(batch, TradeBatch) else candle_messages
        for row, (ts, message) in enumerate(zip(batch.ts_ns.tolist(), encode(batch), strict=True)):
            yield ts, order, row, message

    for *_, message in heapq.merge(*(timed(b, i) for i, b in enumerate(batches))):
        yield message


def publish_file(
    path: str | Path, config: KafkaConfig, topic: str, symbol: str | None = None
) -> Published:
    """Publish every readable row of ``path`` to ``topic``; unreadable rows are counted."""
    loaded = load_market_data(path, symbol)
    if config.create_topics:
        ensure_topics(config, [topic])
    producer = QuorumProducer(config, topic_for=lambda _kind: topic)
    producer.send(in_time_order(list(loaded.batches(source="kafka"))))
    producer.flush()
    return Published(
        topic=topic,
        kind="trades" if isinstance(loaded, LoadedTrades) else "candles",
        messages=sum(producer.delivered.values()),
        symbols=loaded.symbols,
        unreadable_rows=len(loaded.dead_letters),
    )
