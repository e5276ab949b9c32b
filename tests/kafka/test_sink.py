"""The Kafka sink against librdkafka's mock cluster: everything delivered, or the flow stops."""

from __future__ import annotations

import socket
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main
from prometheus_client import CollectorRegistry

from connectors.kafka.config import KafkaConfig
from connectors.kafka.envelope import EnvelopeEncoder, decode_envelope
from connectors.kafka.sink import KafkaDeliveryError, KafkaSink, publish
from connectors.prometheus.metrics import FlowMetrics


def _run(records: list[Any], config: KafkaConfig, metrics: FlowMetrics | None = None) -> KafkaSink:
    flow = Dataflow("kafka_sink_test")
    sink = KafkaSink(config, observer=None if metrics is None else metrics.kafka_report)
    publish("kafka", op.input("in", flow, TestingSource(records, batch_size=3)), sink)
    run_main(flow)
    return sink


def test_every_record_arrives_once_keyed_by_symbol(
    mock_cluster: str, sample_records: list[Any], read_topic: Any
) -> None:
    config = KafkaConfig(bootstrap_servers=mock_cluster, create_topics=False)
    sink = _run(sample_records, config)
    expected = [m for r in sample_records for m in EnvelopeEncoder().encode(r)]
    by_topic: dict[str, list[Any]] = {}
    for m in expected:
        by_topic.setdefault(config.topic(m.kind), []).append(m)
    assert sink.delivered == {t: len(ms) for t, ms in by_topic.items()}
    for topic, messages in by_topic.items():
        got = read_topic(mock_cluster, topic, len(messages))
        assert sorted((m.key(), m.value()) for m in got) == sorted(
            (m.key.encode(), m.value) for m in messages
        ), topic


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_broker_down_stops_the_flow_naming_the_record(sample_records: list[Any]) -> None:
    config = KafkaConfig(
        bootstrap_servers=f"127.0.0.1:{_closed_port()}",
        create_topics=False,
        delivery_timeout_ms=1_500,
    )
    with pytest.raises(Exception) as caught:
        _run(sample_records[:1], config)
    cause = _root_cause(caught.value)
    assert isinstance(cause, KafkaDeliveryError)
    text = str(cause)
    assert "could not deliver 2 record(s)" in text
    assert "quorum.v1.candles" in text and "BTC/USDT|15m|" in text
    assert "_MSG_TIMED_OUT" in text or "MSG_TIMED_OUT" in text


def test_broker_that_goes_away_mid_run_stops_the_flow(sample_records: list[Any]) -> None:
    """The mock cluster accepts a first run, is torn down, and the second run must fail."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"test.mock.num.brokers": "1"})
    servers = ",".join(f"{b.host}:{b.port}" for b in admin.list_topics(timeout=10).brokers.values())
    config = KafkaConfig(bootstrap_servers=servers, create_topics=False, delivery_timeout_ms=1_500)
    assert _run(sample_records[:1], config).delivered == {"quorum.v1.candles": 2}
    del admin  # the mock brokers go with their client
    with pytest.raises(Exception) as caught:
        _run(sample_records[:1], config)
    assert "could not deliver" in str(_root_cause(caught.value))


def test_a_record_the_broker_can_never_take_stops_the_flow(
    mock_cluster: str, sample_records: list[Any]
) -> None:
    config = KafkaConfig(
        bootstrap_servers=mock_cluster, create_topics=False, settings={"message.max.bytes": 1000}
    )
    features = sample_records[1]
    big = type(features)(
        features.candles, {f"x{i}": features.columns["ema_12"] for i in range(100)}
    )
    with pytest.raises(Exception) as caught:
        _run([big], config)
    text = str(_root_cause(caught.value))
    assert text.startswith("cannot produce record 'BTC/USDT|15m|"), text
    assert "too large" in text


def test_weakening_delivery_is_refused() -> None:
    with pytest.raises(ValueError, match="acks=all"):
        KafkaConfig(bootstrap_servers="x:1", settings={"enable.idempotence": False})


def test_envelope_ids_survive_the_trip(
    mock_cluster: str, sample_records: list[Any], read_topic: Any
) -> None:
    config = KafkaConfig(bootstrap_servers=mock_cluster, create_topics=False)
    _run(sample_records, config)
    fills = read_topic(mock_cluster, "quorum.v1.fills", 1)
    assert [decode_envelope(m.value()).id for m in fills] == ["fill-1"]


def test_the_flow_metrics_count_deliveries_failures_and_the_queue(
    mock_cluster: str, sample_records: list[Any]
) -> None:
    metrics = FlowMetrics(CollectorRegistry())
    config = KafkaConfig(bootstrap_servers=mock_cluster, create_topics=False)
    sink = _run(sample_records, config, metrics)
    sample = metrics.registry.get_sample_value
    for topic, n in sink.delivered.items():
        assert sample("quorum_kafka_messages_delivered_total", {"topic": topic}) == n
    assert sample("quorum_kafka_producer_queue_messages", {"producer": "kafka-0"}) == 0

    down = KafkaConfig(
        bootstrap_servers=f"127.0.0.1:{_closed_port()}",
        create_topics=False,
        delivery_timeout_ms=1_500,
    )
    with pytest.raises(Exception) as caught:
        _run(sample_records[:1], down, metrics)
    assert "could not deliver" in str(_root_cause(caught.value))
    assert sample("quorum_kafka_delivery_errors_total", {"topic": "quorum.v1.candles"}) == 2
