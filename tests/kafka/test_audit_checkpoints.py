"""Audit checkpoints on the audit topic of a real broker (Tansu): published by the flow's audit
sink and by `quorum audit checkpoint`, read back by `quorum audit verify`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main
from confluent_kafka import Producer

from connectors.audit.checkpoints import CheckpointUnavailableError
from connectors.audit.config import AuditTrust
from connectors.kafka.audit_checkpoints import CHECKPOINT_KIND, KafkaCheckpoints
from connectors.kafka.config import KafkaConfig
from connectors.kafka.envelope import EnvelopeEncoder, decode_envelope
from connectors.kafka.tansu import free_port
from connectors.store.audit import AuditChainSink, append_events, read_head
from connectors.store.engine import open_store
from flows.cli import main
from operators.audit.chain import AuditEvent
from operators.audit.checkpoints import take_checkpoint
from operators.audit.keys import AuditKey

KEY_TEXT = "0123456789abcdef" * 4
KEY = AuditKey.from_secret(KEY_TEXT.encode())
T0 = datetime(2022, 1, 3, tzinfo=UTC)


def _events(n: int, start: int = 0) -> list[AuditEvent]:
    return [AuditEvent("note", T0 + timedelta(minutes=i), {"i": i}) for i in range(start, n)]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A keyed chain whose only checkpoint place is the topic (no file beside the store)."""
    monkeypatch.setenv("QUORUM_AUDIT_KEY", KEY_TEXT)
    monkeypatch.setenv("QUORUM_AUDIT_CHECKPOINTS", "off")
    monkeypatch.delenv("QUORUM_AUDIT_CHECKPOINT_DB", raising=False)


def test_checkpoints_share_the_audit_topic_and_are_read_back(tansu: str, read_topic) -> None:
    config = KafkaConfig(bootstrap_servers=tansu)
    writer = KafkaCheckpoints(config)
    assert writer.read_all() == []  # no topic yet
    producer = Producer({"bootstrap.servers": tansu})
    for message in EnvelopeEncoder().encode(_events(1)[0]):  # the flow's own audit record
        producer.produce(writer.topic, message.value, message.key.encode())
    producer.produce(writer.topic, b"not an envelope", b"portfolio")
    producer.flush(30)
    first = take_checkpoint((3, "ab" * 32), written_at_ns=10, key=KEY)
    second = take_checkpoint((8, "cd" * 32), written_at_ns=20, key=KEY)
    writer.write(first)
    writer.write(second)
    writer.close()

    assert KafkaCheckpoints(config).read_all() == [first, second]
    values = [m.value() for m in read_topic(tansu, writer.topic, 4)]
    assert values[1] == b"not an envelope"  # one partition (the portfolio key), in order
    on_topic = [decode_envelope(value) for value in values[:1] + values[2:]]
    assert [e.schema for e in on_topic] == ["quorum.v1.audit"] * 3
    assert [e.data["kind"] for e in on_topic] == ["note", CHECKPOINT_KIND, CHECKPOINT_KIND]
    assert on_topic[2].key == "portfolio" and on_topic[2].data["payload"]["count"] == 9


def test_the_flow_anchors_its_chain_on_the_topic_and_verify_reads_it(
    tansu: str, tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store.sqlite"
    config = KafkaConfig(bootstrap_servers=tansu)
    flow = Dataflow("audit_to_kafka")
    items = [("audit", event) for event in _events(6)]
    op.output("audit", op.input("in", flow, TestingSource(items)), AuditChainSink(
        f"sqlite:///{store}", run_id="run-1", kafka=config
    ))  # fmt: skip
    run_main(flow)

    anchored = KafkaCheckpoints(config).read_all()
    assert anchored and anchored[-1].count == 6 and anchored[-1].key_id == KEY.key_id
    assert main(["audit", "verify", "--store", str(store), "--kafka", tansu]) == 0
    assert "matches the latest checkpoint (seq 5)" in capsys.readouterr().out

    # Whoever can write the store truncates the tail and rewrites the head: the topic remembers.
    engine = open_store(store)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_log WHERE seq >= 4")
        conn.exec_driver_sql(
            "UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_log WHERE seq = 3)"
        )
    engine.dispose()
    assert main(["audit", "verify", "--store", str(store)]) == 0  # no place to compare with
    capsys.readouterr()
    assert main(["audit", "verify", "--store", str(store), "--kafka", tansu]) == 1
    assert "truncated" in capsys.readouterr().err


def test_audit_checkpoint_publishes_the_head_now(
    tansu: str, tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store.sqlite"
    engine = open_store(store)
    append_events(engine, _events(3), KEY)
    assert read_head(engine) is not None
    engine.dispose()
    assert main(["audit", "checkpoint", "--store", str(store), "--kafka", tansu]) == 0
    assert "Kafka topic quorum.v1.audit" in capsys.readouterr().out
    trust = AuditTrust.for_store(str(store), kafka=KafkaConfig(bootstrap_servers=tansu))
    assert [cp.count for cp in trust.read_checkpoints()] == [3]


def test_an_unreachable_broker_is_a_clear_error_not_a_pass(tmp_path: Path, env: None) -> None:
    dead = KafkaCheckpoints(KafkaConfig(bootstrap_servers=f"127.0.0.1:{free_port()}"), timeout=2)
    with pytest.raises(CheckpointUnavailableError, match="cannot read Kafka topic"):
        dead.read_all()
