"""The Kafka options shared by ``quorum run``, ``quorum live`` and ``quorum kafka``.

Kept apart from the commands so each command adds them with one call, and so the failure of a
Kafka client inside the flow reaches the user as one readable line.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_kafka_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kafka",
        metavar="BOOTSTRAP",
        help="publish every record to Kafka at BOOTSTRAP (host:port[,host:port]), one topic per "
        "kind (quorum.v1.<kind>); SASL/TLS and other client settings: kafka.settings in --config",
    )


def add_kafka_source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        metavar="kafka://BOOTSTRAP/TOPIC[,TOPIC…]",
        help="read market data from Kafka topics instead of files (envelopes or Binance frames)",
    )
    parser.add_argument(
        "--until-idle",
        type=float,
        metavar="SECONDS",
        help="with --source: end once no message has arrived for SECONDS (default: tail forever)",
    )


def parse_kafka_url(text: str) -> tuple[str, list[str]]:
    """``kafka://host:port[,host:port]/topic[,topic]`` → (bootstrap servers, topics).

    >>> parse_kafka_url("kafka://127.0.0.1:9092/quorum.v1.trades,raw")
    ('127.0.0.1:9092', ['quorum.v1.trades', 'raw'])
    >>> parse_kafka_url("http://x/y")
    Traceback (most recent call last):
    ...
    ValueError: --source 'http://x/y' must look like kafka://HOST:PORT/TOPIC[,TOPIC…]
    """
    scheme, _, rest = text.partition("://")
    servers, _, topics = rest.partition("/")
    names = [t.strip() for t in topics.split(",") if t.strip()]
    if scheme != "kafka" or not servers or not names:
        raise ValueError(f"--source {text!r} must look like kafka://HOST:PORT/TOPIC[,TOPIC…]")
    for name in names:
        if not all(c.isalnum() or c in "._-" for c in name):
            raise ValueError(f"--source: {name!r} is not a Kafka topic name")
    return servers, names


def kafka_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Configuration overrides from the Kafka flags (none when they are not given)."""
    if not getattr(args, "kafka", None):
        return {}
    return {"kafka": {"bootstrap_servers": args.kafka}}


def kafka_failure(exc: BaseException) -> str | None:
    """The message of a Kafka failure that stopped a flow (``None`` if it was something else).

    Bytewax wraps an exception raised in a sink or source; the Kafka error is its root cause.
    """
    from connectors.kafka.sink import KafkaDeliveryError, KafkaSetupError
    from connectors.kafka.source import KafkaSourceError

    while exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, KafkaDeliveryError | KafkaSetupError | KafkaSourceError):
        return str(exc)
    return None
