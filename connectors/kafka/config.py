"""Kafka connection and producer settings (pydantic; every field described).

``settings`` passes any librdkafka property through unchanged (SASL, TLS, timeouts …); values
whose name looks secret never appear in ``repr`` or logs.

>>> cfg = KafkaConfig(bootstrap_servers="127.0.0.1:9092",
...                   settings={"security.protocol": "SASL_SSL", "sasl.password": "hunter2"})
>>> "hunter2" in repr(cfg), cfg.topic("fused_signals")
(False, 'quorum.v1.fused_signals')
>>> cfg.producer_settings()["enable.idempotence"], cfg.producer_settings()["sasl.password"]
(True, 'hunter2')
>>> KafkaConfig(bootstrap_servers="127.0.0.1:9092", settings={"acks": "1"})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for KafkaConfig
settings
  Value error, settings['acks'] = '1' would weaken delivery: the producer needs acks=all ...
...
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_TOPIC_PREFIX = "quorum.v1"
_SECRET_NAME = re.compile(r"password|secret|token|key\.pem|private|credential", re.IGNORECASE)
_REDACTED = "***"

# Settings the sink's guarantee rests on: a run may tighten them, never loosen them.
_PINNED = {"enable.idempotence": {"true", "True", True}, "acks": {"all", "-1", -1}}


def redact(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with the value of every secret-looking property replaced by ``***``.

    >>> redact({"sasl.username": "ana", "sasl.password": "x", "ssl.key.password": "y"})
    {'sasl.username': 'ana', 'sasl.password': '***', 'ssl.key.password': '***'}
    """
    return {k: _REDACTED if _SECRET_NAME.search(k) else v for k, v in settings.items()}


class KafkaConfig(BaseModel):
    """Where Quorum's Kafka clients connect and how its producer delivers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap_servers: str | None = Field(
        default=None,
        description="Comma-separated host:port list of brokers; None = Kafka off (the default)",
    )
    topic_prefix: str = Field(
        default=DEFAULT_TOPIC_PREFIX,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Topics are named <prefix>.<kind>, e.g. quorum.v1.fused_signals",
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        repr=False,
        description=(
            "Any librdkafka property, passed to every client unchanged: security.protocol, "
            "sasl.mechanism, sasl.username, sasl.password, ssl.ca.location, … (secret values are "
            "redacted from repr and logs)"
        ),
    )
    compression: str = Field(
        default="zstd",
        pattern=r"^(none|gzip|snappy|lz4|zstd)$",
        description="Producer compression.type",
    )
    linger_ms: int = Field(
        default=5, ge=0, le=10_000, description="How long the producer waits to fill a batch"
    )
    batch_messages: int = Field(
        default=10_000, ge=1, le=1_000_000, description="Most messages in one produce request"
    )
    delivery_timeout_ms: int = Field(
        default=120_000,
        ge=1_000,
        description=(
            "A record not acknowledged within this time (retries included) fails its delivery "
            "report, which stops the flow"
        ),
    )
    sink_partitions: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Producers the flow's Kafka sink spreads records over (by symbol)",
    )
    topic_partitions: int = Field(
        default=3, ge=1, le=10_000, description="Partitions of the output topics Quorum creates"
    )
    replication_factor: int = Field(
        default=1, ge=1, le=16, description="Replication factor of the topics Quorum creates"
    )
    create_topics: bool = Field(
        default=True,
        description="Create missing output topics at start (off for brokers without CreateTopics)",
    )
    portfolio_key: str = Field(
        default="portfolio",
        min_length=1,
        description="Message key of portfolio-wide records (equity, audit) of the default "
        "portfolio; a portfolio of `portfolios:` is keyed by its id; symbols key the rest",
    )

    @field_validator("settings")
    @classmethod
    def _keeps_delivery_guarantee(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, allowed in _PINNED.items():
            if name in value and value[name] not in allowed:
                raise ValueError(
                    f"settings[{name!r}] = {value[name]!r} would weaken delivery: the producer "
                    "needs acks=all and enable.idempotence=true (records are never dropped)"
                )
        return value

    def __repr_args__(self) -> Any:
        yield from super().__repr_args__()
        yield "settings", redact(self.settings)

    @property
    def enabled(self) -> bool:
        return bool(self.bootstrap_servers)

    def topic(self, kind: str) -> str:
        return f"{self.topic_prefix}.{kind}"

    def client_settings(self) -> dict[str, Any]:
        """Settings every client (producer, consumer, admin) gets."""
        if not self.bootstrap_servers:
            raise ValueError("bootstrap_servers is not set: pass --kafka HOST:PORT")
        return {"bootstrap.servers": self.bootstrap_servers, **self.settings}

    def producer_settings(self) -> dict[str, Any]:
        """The idempotent, compressed, batched producer's settings (user settings layered in)."""
        return {
            "compression.type": self.compression,
            "linger.ms": self.linger_ms,
            "batch.num.messages": self.batch_messages,
            "delivery.timeout.ms": self.delivery_timeout_ms,
            **self.client_settings(),
            "enable.idempotence": True,
            "acks": "all",
        }

    def consumer_settings(self, group_id: str) -> dict[str, Any]:
        """A consumer that never commits: Quorum keeps offsets in Bytewax snapshots."""
        return {
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
            # brokers may hold a fetch for the whole wait even when data is there: keep it short
            "fetch.wait.max.ms": 5,
            **self.client_settings(),
        }
