"""The Kafka channel: one topic per customer, ``<prefix>.customers.<customer>.fused_signals``.

Why a topic per customer rather than a shared topic keyed by customer: a broker authorizes
reads per topic, so each customer's principal can be granted its own topic and nothing else
(a shared topic would let every consumer read every customer's signals, entitled or not).
Messages are the platform's envelopes (:mod:`connectors.kafka.envelope`, schema
``quorum.v1.fused_signals``, ``id`` = fused id for consumer-side de-duplication), keyed by
asset, carrying the signal as the customer's plan shows it. The producer is the checked,
idempotent :class:`~connectors.kafka.sink.QuorumProducer`: a batch counts as delivered only
once every message is acknowledged.

>>> customer_topic("quorum.v1", "acme-fund")
'quorum.v1.customers.acme-fund.fused_signals'
>>> customer_topic("quorum.v1", "Bea Smith@x")  # characters Kafka refuses, made unique
'quorum.v1.customers.Bea_Smith_x-....fused_signals'
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from connectors.billing_push.errors import PushError
from connectors.kafka.config import KafkaConfig
from connectors.kafka.envelope import EnvelopeEncoder
from connectors.kafka.sink import KafkaDeliveryError, QuorumProducer, ensure_topics
from connectors.kafka.topics import Kind
from operators.billing.delivery import Push

_TOPIC_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def customer_topic(prefix: str, customer: str) -> str:
    """The customer's topic; ids with characters a topic name cannot hold get a hash suffix."""
    safe = _TOPIC_SAFE.sub("_", customer)
    if safe != customer:
        safe += "-" + hashlib.blake2b(customer.encode(), digest_size=4).hexdigest()
    return f"{prefix}.customers.{safe}.{Kind.FUSED_SIGNALS.value}"


class KafkaPush:
    """Publishes each customer's pushes to their own topic (created on first use)."""

    def __init__(self, config: KafkaConfig) -> None:
        self.config = config
        self._encoder = EnvelopeEncoder(config.portfolio_key)
        self._producers: dict[str, QuorumProducer] = {}

    def _producer(self, customer: str) -> QuorumProducer:
        producer = self._producers.get(customer)
        if producer is None:
            topic = customer_topic(self.config.topic_prefix, customer)
            if self.config.create_topics:
                ensure_topics(self.config, [topic])
            producer = self._producers[customer] = QuorumProducer(
                self.config, topic_for=lambda _kind: topic
            )
        return producer

    def reaches(self, customer: str) -> bool:
        return True  # every customer whose plan has the channel has a topic

    def send(self, customer: str, pushes: Sequence[Push]) -> None:
        """Publish ``pushes`` and wait for every acknowledgement (all or, on error, none)."""
        producer = self._producer(customer)
        messages = [
            m
            for push in pushes
            for m in self._encoder.encode(push.signal)
            if m.kind is Kind.FUSED_SIGNALS
        ]
        try:
            producer.send(messages)
            producer.flush()
        except KafkaDeliveryError as exc:
            raise PushError(f"kafka delivery to {customer!r} failed: {exc}", 0) from None

    def close(self) -> None:
        for producer in self._producers.values():
            producer.close()
        self._producers.clear()  # the librdkafka clients go with their last reference
