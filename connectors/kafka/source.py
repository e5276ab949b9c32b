"""Bytewax source of market data from Kafka topics, one partition per Kafka partition.

Each Bytewax partition reads one ``(topic, partition)`` with an assigned consumer (no consumer
group, no committed offsets): its snapshot is the next offset to read, so a flow restarted from
recovery resumes exactly after the last message it took. Values are decoded by
:class:`~connectors.kafka.market.MarketDecoder` (envelopes and Binance frames); a malformed
message becomes a dead letter with its raw bytes, topic, partition and offset.

``until_idle`` (seconds) ends a partition once it has read everything the broker holds and no
message has arrived for that long: a backtest fed from a topic ends by itself. Without it the
source tails the topics forever.

>>> from bytewax.dataflow import Dataflow
>>> import bytewax.operators as op
>>> from bytewax.testing import TestingSink, run_main
>>> from confluent_kafka import Producer
>>> from confluent_kafka.admin import AdminClient
>>> from connectors.kafka.config import KafkaConfig
>>> mock = AdminClient({"test.mock.num.brokers": "1"})  # librdkafka's in-process test broker
>>> servers = ",".join(f"{b.host}:{b.port}" for b in mock.list_topics(timeout=10).brokers.values())
>>> producer = Producer({"bootstrap.servers": servers})
>>> for t in (1000, 2000):
...     producer.produce("raw", b'{"e":"trade","E":1,"s":"ETHBTC","t":%d,"p":"0.07","q":"1",'
...                      b'"T":%d,"m":false}' % (t, t), partition=0)
>>> producer.flush(10)
0
>>> flow = Dataflow("kafka_source_doc")
>>> out = []
>>> source = KafkaMarketSource(KafkaConfig(bootstrap_servers=servers), ["raw"], until_idle=1.0)
>>> op.output("out", op.input("in", flow, source), TestingSink(out))
>>> run_main(flow)
>>> [(b.symbol, b.trade_id.tolist()) for b in out]
[('ETH/BTC', [1000, 2000])]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from connectors.kafka.config import KafkaConfig
from connectors.kafka.market import MarketDecoder

IDLE_POLL = timedelta(milliseconds=5)
"""How soon an idle partition is polled again (Bytewax must not busy-loop on it)."""


class KafkaSourceError(RuntimeError):
    """The source cannot read its topics (missing topic, broker error): the flow stops."""


def _part_name(topic: str, partition: int) -> str:
    return f"{topic}#{partition}"  # '#' never occurs in a Kafka topic name


class KafkaMarketPartition(StatefulSourcePartition[Any, int]):
    """One Kafka partition; the snapshot is the next offset to read."""

    def __init__(
        self,
        consumer: Consumer,
        topic: str,
        partition: int,
        offset: int,
        decoder: MarketDecoder,
        *,
        batch_size: int,
        until_idle: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self._topic = topic
        self._partition = partition
        self._offset = offset
        self._decoder = decoder
        self._batch_size = batch_size
        self._until_idle = until_idle
        self._clock = clock
        self._last_message = clock()
        self._idle = False
        consumer.assign([TopicPartition(topic, partition, offset)])

    def next_batch(self) -> list[Any]:
        messages = self._consumer.consume(self._batch_size, 0)
        add = self._decoder.add
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaSourceError(
                    f"cannot read {self._topic} partition {self._partition}: {error.str()}"
                )
            add(message.value(), self._topic, self._partition, message.offset(),
                message.timestamp()[1])  # fmt: skip
            self._offset = message.offset() + 1
        self._idle = not messages
        now = self._clock()
        if messages:
            self._last_message = now
        elif self._until_idle is not None and now - self._last_message >= self._until_idle:
            if self._caught_up():
                raise StopIteration
            self._last_message = now  # the broker holds more: still fetching, not idle
        return self._decoder.drain()

    def _caught_up(self) -> bool:
        """Whether every message the broker holds in this partition has been read."""
        try:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(self._topic, self._partition), timeout=10
            )
        except KafkaException as exc:
            raise KafkaSourceError(
                f"cannot read {self._topic} partition {self._partition}: {exc.args[0].str()}"
            ) from None
        return max(self._offset, low) >= high

    def next_awake(self) -> datetime | None:
        return datetime.now(UTC) + IDLE_POLL if self._idle else None

    def snapshot(self) -> int:
        return self._offset

    def close(self) -> None:
        self._consumer.close()


class KafkaMarketSource(FixedPartitionedSource[Any, int]):
    """Market data (trades, candles, quotes) from ``topics``; see the module docstring.

    ``symbol`` names the unified symbol of Binance frames whose market id cannot be split by
    its quote currency. ``batch_size`` is the most messages taken per poll.
    """

    def __init__(
        self,
        config: KafkaConfig,
        topics: Sequence[str],
        *,
        until_idle: float | None = None,
        symbol: str | None = None,
        batch_size: int = 50_000,
        source_name: str = "kafka",
    ) -> None:
        if not topics:
            raise ValueError("name at least one topic to read")
        if until_idle is not None and not until_idle > 0:
            raise ValueError(f"until_idle must be > 0 seconds, got {until_idle}")
        self.config = config
        self.topics = list(topics)
        self.until_idle = until_idle
        self.symbol = symbol
        self.batch_size = batch_size
        self.source_name = source_name

    def list_parts(self) -> list[str]:
        admin = AdminClient(self.config.client_settings())
        parts = []
        for topic in self.topics:
            metadata = admin.list_topics(topic, timeout=30).topics.get(topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                why = metadata.error.str() if metadata and metadata.error else "no such topic"
                raise KafkaSourceError(
                    f"cannot read topic {topic!r} on {self.config.bootstrap_servers}: {why}"
                )
            parts += [_part_name(topic, p) for p in sorted(metadata.partitions)]
        return parts

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> KafkaMarketPartition:
        topic, _, partition = for_part.rpartition("#")
        consumer = Consumer(self.config.consumer_settings(f"quorum-{step_id}"))
        return KafkaMarketPartition(
            consumer,
            topic,
            int(partition),
            OFFSET_BEGINNING if resume_state is None else resume_state,
            MarketDecoder(self.source_name, self.symbol),
            batch_size=self.batch_size,
            until_idle=self.until_idle,
        )
