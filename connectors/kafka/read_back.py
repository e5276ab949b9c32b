"""Read a topic back from its first retained offset to its current end (no group committed).

For checks that need everything a topic holds now: ``quorum audit verify`` reading the audit
checkpoints, tests comparing a run's output topics. Raises ``KafkaException`` when the broker
does not answer within ``timeout`` seconds.
"""

from __future__ import annotations

import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition


def read_to_end(client_settings: dict[str, Any], topic: str, timeout: float = 30.0) -> list[Any]:
    """Every message of ``topic`` (partition by partition, in offset order); [] if none."""
    consumer = Consumer(
        {
            **client_settings,
            "group.id": f"quorum-read-back-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        return _read(consumer, topic, timeout)
    finally:
        consumer.close()


def _read(consumer: Consumer, topic: str, timeout: float) -> list[Any]:
    meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        return []
    remaining: dict[int, int] = {}
    for partition in meta.partitions:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=timeout
        )
        if high > low:
            remaining[partition] = high
    if not remaining:
        return []
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in remaining])
    found: list[Any] = []
    while remaining:
        message = consumer.poll(timeout)
        if message is None:
            raise KafkaException(f"{topic}: no message within {timeout}s")
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                remaining.pop(message.partition(), None)
                continue
            raise KafkaException(error)
        if message.partition() not in remaining:
            continue
        if message.offset() + 1 >= remaining[message.partition()]:
            remaining.pop(message.partition())
        found.append(message)
    found.sort(key=lambda m: (m.partition(), m.offset()))
    return found
