"""Audit checkpoints on the ``<prefix>.audit`` topic: a :class:`CheckpointWriter` on Kafka.

A checkpoint is published as one more message of the audit topic, in the topic's own envelope
(``schema: quorum.v1.audit``): ``data`` is an audit event of kind :data:`CHECKPOINT_KIND` whose
payload is the :class:`~schemas.records.AuditCheckpoint` (count, head hash, time, key id,
signature). Consumers of the audit topic therefore see one schema, and a checkpoint sits in
the same partition (the portfolio key) and order as the records it anchors. A broker the
store's writers cannot write to is then a place they cannot rewrite: the topic is append-only
to them (give them no ``DeleteRecords`` / ``AlterConfigs`` ACLs on it).

:meth:`KafkaCheckpoints.read_all` reads the topic from its first retained offset to its end
(no consumer group is committed) and keeps the checkpoint messages, for ``quorum audit verify``.
Retention bounds what it can find: keep the audit topic's retention long (or compacted off).
"""

from __future__ import annotations

from typing import Any

import msgspec
from confluent_kafka import KafkaException, Producer
from pydantic import ValidationError

from connectors.audit.checkpoints import CheckpointFormatError, CheckpointUnavailableError
from connectors.kafka.config import KafkaConfig
from connectors.kafka.envelope import EnvelopeEncoder, decode_envelope
from connectors.kafka.read_back import read_to_end
from connectors.kafka.topics import Kind
from operators.audit.chain import AuditEvent
from schemas.common import ns_to_datetime
from schemas.records import AuditCheckpoint

CHECKPOINT_KIND = "audit_checkpoint"
"""``data.kind`` of a checkpoint message on the audit topic."""


def checkpoint_event(checkpoint: AuditCheckpoint) -> AuditEvent:
    """The audit-topic event carrying ``checkpoint``.

    >>> cp = AuditCheckpoint(count=3, head_hash="ab" * 32, written_at_ns=5)
    >>> event = checkpoint_event(cp)
    >>> event.kind, event.payload["count"], event.ts.year
    ('audit_checkpoint', 3, 1970)
    """
    return AuditEvent(
        CHECKPOINT_KIND, ns_to_datetime(checkpoint.written_at_ns), checkpoint.model_dump()
    )


class KafkaCheckpoints:
    """Checkpoints published to and read back from ``config.topic("audit")``."""

    def __init__(self, config: KafkaConfig, timeout: float = 30.0) -> None:
        if not config.enabled:
            raise ValueError("Kafka checkpoints need kafka.bootstrap_servers")
        self.config = config
        self.topic = config.topic(Kind.AUDIT.value)
        self.timeout = timeout
        self._encoder = EnvelopeEncoder(config.portfolio_key)
        self._producer: Producer | None = None

    @property
    def where(self) -> str:
        return f"Kafka topic {self.topic} at {self.config.bootstrap_servers}"

    def write(self, checkpoint: AuditCheckpoint) -> None:
        """Publish ``checkpoint`` and wait for the broker's acknowledgement (raises if none)."""
        (message,) = self._encoder.encode(checkpoint_event(checkpoint))
        failures: list[Any] = []

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                failures.append(error)

        if self._producer is None:
            self._producer = Producer(self.config.producer_settings())
        self._producer.produce(
            self.topic,
            value=message.value,
            key=message.key.encode(),
            headers={"id": message.id.encode()},
            on_delivery=delivered,
        )
        if self._producer.flush(self.timeout) > 0:
            raise KafkaException(f"checkpoint not acknowledged by {self.where} in {self.timeout}s")
        if failures:
            raise KafkaException(failures[0])

    def read_all(self) -> list[AuditCheckpoint]:
        """Every checkpoint the topic still holds, in partition and offset order."""
        try:
            messages = read_to_end(self.config.client_settings(), self.topic, self.timeout)
        except KafkaException as exc:
            raise CheckpointUnavailableError(f"cannot read {self.where}: {exc}") from None
        found = []
        for message in messages:
            where = f"{self.topic} partition {message.partition()} offset {message.offset()}"
            checkpoint = _checkpoint_of(message.value(), where)
            if checkpoint is not None:
                found.append(checkpoint)
        return found

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self.timeout)
            self._producer = None


def _checkpoint_of(value: bytes | None, where: str) -> AuditCheckpoint | None:
    """The checkpoint a message carries; None for the audit topic's other records (and for
    messages that are no envelope: whatever else lands there cannot hide a checkpoint)."""
    try:
        data = decode_envelope(value or b"").data
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if data.get("kind") != CHECKPOINT_KIND:
        return None
    try:
        return AuditCheckpoint.model_validate(data.get("payload"))
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise CheckpointFormatError(f"{where} is not a checkpoint ({problem})") from None
