"""Bytewax sink publishing the flow's records to Kafka, one topic per record kind.

Each sink partition owns one idempotent producer (``enable.idempotence=true``, ``acks=all``,
compressed, batched by ``linger.ms``); records are routed to partitions by symbol (to the sink
partition on the worker that keeps the symbol's state, :mod:`operators.placement`), so one
symbol's records keep their order. Every item is encoded by
:class:`~connectors.kafka.envelope.EnvelopeEncoder` (batches become one message per row) and
produced keyed by symbol. Every delivery report is checked: a record the producer could not
deliver after its retries (or within ``delivery_timeout_ms``) raises :class:`KafkaDeliveryError`
from the sink, which stops the flow with the reason; nothing is dropped silently. At the end of
every epoch the partition waits for all acknowledgements before Bytewax commits its snapshot,
so a resumed flow never skips an undelivered record: at-least-once, deduplicated downstream by
the envelope ``id``.

>>> from bytewax.dataflow import Dataflow
>>> import bytewax.operators as op
>>> from bytewax.testing import TestingSource, run_main
>>> from confluent_kafka.admin import AdminClient
>>> from connectors.kafka.config import KafkaConfig
>>> from schemas.batches import CandleBatch
>>> mock = AdminClient({"test.mock.num.brokers": "1"})  # librdkafka's in-process test broker
>>> servers = ",".join(f"{b.host}:{b.port}" for b in mock.list_topics(timeout=10).brokers.values())
>>> config = KafkaConfig(bootstrap_servers=servers, create_topics=False)
>>> bars = CandleBatch.from_columns("A/B", "1m", [0, 60_000_000_000], [1, 1], [1, 1], [1, 1],
...                                 [1, 1], [5, 6])
>>> flow = Dataflow("kafka_sink_doc")
>>> sink = KafkaSink(config)
>>> publish("kafka", op.input("in", flow, TestingSource([bars])), sink)
>>> run_main(flow)
>>> sink.delivered
{'quorum.v1.candles': 2}
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.kafka.config import KafkaConfig
from connectors.kafka.envelope import EnvelopeEncoder, Message, decode_envelope
from connectors.kafka.topics import Kind
from operators.placement import key_hash

logger = logging.getLogger(__name__)

TopicFor = Callable[[Kind], str]

ProducerObserver = Callable[[str, Counter[str], Counter[str], int], None]
"""``observer(producer, delivered, failed, queued)``: messages acknowledged and failed per topic
since the last call, and the producer's local queue length now (for metrics)."""


class KafkaDeliveryError(RuntimeError):
    """Records could not be delivered: the flow stops rather than lose them."""


class KafkaSetupError(RuntimeError):
    """The broker refused what Quorum needs at start (topics, connection)."""


def ensure_topics(config: KafkaConfig, topics: Iterable[str], timeout: float = 30.0) -> None:
    """Create the missing ``topics`` (``config.topic_partitions`` each); existing ones are kept."""
    admin = AdminClient(config.client_settings())
    wanted = [
        NewTopic(t, config.topic_partitions, config.replication_factor) for t in sorted(set(topics))
    ]
    for topic, future in admin.create_topics(wanted, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaSetupError(
                    f"cannot create topic {topic!r} on {config.bootstrap_servers}: {error.str()} "
                    "(create it beforehand, or set kafka.create_topics: false for brokers that "
                    "auto-create topics)"
                ) from None


class QuorumProducer:
    """An idempotent producer whose every delivery report is checked.

    ``send`` queues messages (waiting for room when the local queue is full); ``flush`` waits
    for all acknowledgements and raises :class:`KafkaDeliveryError` naming the first record that
    failed. ``delivered`` and ``failed`` count messages per topic; ``observer`` (named ``name``)
    hears of them after every send and flush.
    """

    def __init__(
        self,
        config: KafkaConfig,
        topic_for: TopicFor | None = None,
        observer: ProducerObserver | None = None,
        name: str = "kafka-0",
    ) -> None:
        self.config = config
        self._topic_for = topic_for or config.topic
        self._failures: list[tuple[str, bytes | None, bytes | None, KafkaError]] = []
        self._fatal: KafkaError | None = None
        self._lock = threading.Lock()
        self.delivered: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.name = name
        self._observer = observer
        self._reported: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
        self._producer = Producer({**config.producer_settings(), "error_cb": self._on_error})

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._fatal = error
        else:  # transient (a broker connection dropped): librdkafka retries by itself
            logger.debug("kafka: %s", error.str())

    def _on_delivery(self, error: KafkaError | None, message: Any) -> None:
        if error is None:
            self.delivered[message.topic()] += 1
            return
        with self._lock:
            self.failed[message.topic()] += 1
            self._failures.append((message.topic(), message.key(), message.value(), error))

    def _report(self) -> None:
        """Tell the observer what was acknowledged or failed since the last report."""
        if self._observer is None:
            return
        with self._lock:
            delivered = self.delivered - self._reported[0]
            failed = self.failed - self._reported[1]
            self._reported[0].update(delivered)
            self._reported[1].update(failed)
        self._observer(self.name, delivered, failed, len(self._producer))

    def send(self, messages: Iterable[Message]) -> None:
        produce, topic_for = self._producer.produce, self._topic_for
        for m in messages:
            while True:
                try:
                    produce(
                        topic_for(m.kind), m.value, m.key.encode(), on_delivery=self._on_delivery
                    )
                    break
                except BufferError:  # local queue full: serve delivery reports, then retry
                    self._producer.poll(0.05)
                except KafkaException as exc:
                    raise KafkaDeliveryError(
                        f"cannot produce record {m.id!r} to {topic_for(m.kind)!r}: "
                        f"{exc.args[0].str()}"
                    ) from None
        self._producer.poll(0)
        self._report()
        self._check()

    def flush(self) -> None:
        """Wait until every queued record is acknowledged or has failed; raise on any failure."""
        deadline = time.monotonic() + self.config.delivery_timeout_ms / 1000 + 30
        while self._producer.flush(1.0) > 0:
            self._report()
            self._check()
            if time.monotonic() > deadline:
                raise KafkaDeliveryError(
                    f"{len(self._producer)} record(s) still unacknowledged by "
                    f"{self.config.bootstrap_servers} after the delivery timeout"
                )
        self._report()
        self._check()

    def _check(self) -> None:
        if self._fatal is not None:
            raise KafkaDeliveryError(
                f"the Kafka producer failed fatally ({self.config.bootstrap_servers}): "
                f"{self._fatal.str()}"
            )
        with self._lock:
            failures, self._failures = self._failures, []
        if not failures:
            return
        topic, key, value, error = failures[0]
        raise KafkaDeliveryError(
            f"could not deliver {len(failures)} record(s) to Kafka at "
            f"{self.config.bootstrap_servers}; first: topic {topic!r}, key "
            f"{(key or b'').decode(errors='replace')!r}, id {_record_id(value)!r}: "
            f"{error.str()} ({error.name()}). The flow stops rather than drop records."
        )

    def close(self) -> None:
        self.flush()


def _record_id(value: bytes | None) -> str | None:
    try:
        return decode_envelope(value or b"").id
    except ValueError:
        return None


class _KafkaPartition(StatefulSinkPartition[Any, None]):
    def __init__(self, producer: QuorumProducer, encoder: EnvelopeEncoder) -> None:
        self._producer = producer
        self._encoder = encoder

    def write_batch(self, items: list[Any]) -> None:
        encode = self._encoder.encode
        self._producer.send(m for item in items for m in encode(item))

    def snapshot(self) -> None:
        # Called at every epoch's end, before Bytewax commits its snapshot: wait for the
        # acknowledgements, so a resume never skips a record the broker did not take.
        self._producer.flush()

    def close(self) -> None:
        self._producer.close()


def route_key(item: Any) -> str:
    """The sink partition key of a flow item: its symbol (or asset), else the portfolio."""
    return getattr(item, "symbol", None) or getattr(item, "asset", None) or "portfolio"


class KafkaSink(FixedPartitionedSink[Any, None]):
    """Publishes every record with a kind to ``<prefix>.<kind>`` (or ``topic_for(kind)``).

    Takes ``(key, item)`` pairs (see :func:`publish`, which keys a stream for it);
    ``config.sink_partitions`` producers share the records by key. Items without a kind
    (summaries, reliability snapshots) are skipped. ``delivered`` counts the acknowledged
    messages per topic over the partitions of this process; ``observer`` hears every producer's
    deliveries, failures and queue length (the flow's Prometheus metrics).
    """

    def __init__(
        self,
        config: KafkaConfig,
        topic_for: TopicFor | None = None,
        observer: ProducerObserver | None = None,
    ) -> None:
        self.config = config
        self.topic_for = topic_for
        self.observer = observer
        self._producers: list[QuorumProducer] = []

    @property
    def delivered(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for producer in self._producers:
            total.update(producer.delivered)
        return dict(total)

    def list_parts(self) -> list[str]:
        return [f"kafka-{i}" for i in range(self.config.sink_partitions)]

    def part_fn(self, item_key: str) -> int:
        # the producer on the worker that keeps the symbol's state: no hop between workers
        return key_hash(item_key)

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _KafkaPartition:
        if self.config.create_topics:
            topic_for = self.topic_for or self.config.topic
            ensure_topics(self.config, [topic_for(kind) for kind in Kind])
        producer = QuorumProducer(self.config, self.topic_for, self.observer, for_part)
        self._producers.append(producer)
        return _KafkaPartition(producer, EnvelopeEncoder(self.config.portfolio_key))


@operator
def publish(step_id: str, up: Stream[Any], sink: KafkaSink) -> None:
    """Publish every item of ``up`` with ``sink``, routed to its producer by symbol."""
    op.output("out", op.key_on("key", up, route_key), sink)
