"""kill -9 during ``quorum run --recovery-dir``: the restarted runs end as an uninterrupted one.

The process kills itself with SIGKILL once its store sink has committed a fixed number of
items (``QUORUM_CRASH_AFTER_ITEMS``, :mod:`flows.faults`), so every kill point is set by the
data, not by timing. Three kills, each followed by a restart on the same recovery directory,
then a restart that finishes; once with 1 s snapshots (resumes from mid-run snapshots) and once
with Bytewax's default 10 s (kills mostly before the first snapshot: restarts replay from the
start into a store that already holds part of the run). Afterwards every table equals the
uninterrupted run's, the audit chain verifies with each event once, and the report is the same.

With Kafka (a Tansu broker process), one kill and a restart: every output topic, deduplicated
by the envelope's id, holds exactly what an uninterrupted run's topics hold.
"""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from sqlalchemy import text

from connectors.kafka.audit_checkpoints import CHECKPOINT_KIND
from connectors.kafka.envelope import decode_envelope
from connectors.store.audit import verify_store
from connectors.store.engine import open_store
from flows.faults import CRASH_ENV
from tests.deploy.conftest import quorum, report_body, store_contents
from tests.kafka.conftest import tansu  # noqa: F401  (the broker fixture)

pytestmark = pytest.mark.slow

BATCH_ROWS = 500
"""Source batch of the test configuration: the six days come in 18 batches (1,355 items)."""
KILL_AFTER_ITEMS = (350, 350, 350)
"""Items each process writes before it dies; three kills stay below the run's 1,355 items
even if a restart resumed from the very point of the previous kill."""


def _config(tmp: Path, kafka: str = "") -> Path:
    path = tmp / "crash.yaml"
    path.write_text(f"source:\n  batch_size: {BATCH_ROWS}\n{kafka}")
    return path


def _run(data: Path, config: Path, out: Path, name: str, *extra: str, env=None):
    return quorum(
        "run",
        "--quiet",
        "--data",
        str(data),
        "--config",
        str(config),
        "--store",
        str(out / f"{name}.sqlite"),
        "--report",
        str(out / f"{name}.json"),
        "--plot",
        str(out / f"{name}.png"),
        *extra,
        env=env,
    )


@pytest.fixture(scope="module")
def uninterrupted(btc_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    done = _run(btc_slice, _config(out), out, "clean")
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("snapshot_seconds", ["1", "10"])
def test_killed_three_times_the_store_equals_an_uninterrupted_run(
    snapshot_seconds: str, btc_slice: Path, uninterrupted: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    recovery = ("--recovery-dir", str(tmp_path / "recovery"), "--snapshot-interval")
    recovery += (snapshot_seconds,)
    for limit in KILL_AFTER_ITEMS:
        killed = _run(
            btc_slice, config, tmp_path, "crashed", *recovery, env={CRASH_ENV: str(limit)}
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    finished = _run(btc_slice, config, tmp_path, "crashed", *recovery)
    assert finished.returncode == 0, finished.stderr

    url = str(tmp_path / "crashed.sqlite")
    expected = store_contents(str(uninterrupted / "clean.sqlite"))
    got = store_contents(url)
    assert got.keys() == expected.keys()
    for table in expected:
        assert got[table] == expected[table], table
    assert len(got["fills"]) == 9 and len(got["audit_log"]) > 300

    engine = open_store(url)
    try:
        assert verify_store(engine).ok
        with engine.connect() as conn:
            repeated = conn.execute(
                text(
                    "SELECT COUNT(*) FROM (SELECT payload FROM audit_log GROUP BY kind, ts, "
                    "payload HAVING COUNT(*) > 1) AS d"
                )
            ).scalar_one()
            runs = conn.execute(text("SELECT COUNT(*) FROM runs")).scalar_one()
    finally:
        engine.dispose()
    assert repeated == 0
    assert runs == 1  # every restart resumed the run it recovers, under its run id
    assert report_body(tmp_path / "crashed.json") == report_body(uninterrupted / "clean.json")


def _kafka(bootstrap: str, prefix: str) -> str:
    return f"kafka:\n  bootstrap_servers: '{bootstrap}'\n  topic_prefix: {prefix}\n"


def _read_through_markers(bootstrap: str, topic: str) -> list[Any]:
    """Every message of a finished run's ``topic``: a marker is appended to each partition and
    each is read up to its marker, so the end never depends on the broker's high watermark
    (Tansu's under-reports it by up to a batch) nor on a quiet period."""
    marker = b"end-of-test-" + uuid.uuid4().hex.encode()
    settings = {"bootstrap.servers": bootstrap}
    consumer = Consumer({**settings, "group.id": "crash-test", "enable.auto.commit": False})
    try:
        partitions = list(consumer.list_topics(topic, timeout=30).topics[topic].partitions)
        producer = Producer(settings)
        for partition in partitions:
            producer.produce(topic, marker, partition=partition)
        assert producer.flush(30) == 0
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        open_parts, messages = set(partitions), []
        deadline = time.monotonic() + 120  # a generous bound, never a pass condition
        while open_parts:
            assert time.monotonic() < deadline, f"{topic}: no end marker from {open_parts}"
            for message in consumer.consume(1000, 0.5):
                assert message.error() is None, message.error()
                if message.value() == marker:
                    open_parts.discard(message.partition())
                elif message.partition() in open_parts:
                    messages.append(message)
    finally:
        consumer.close()
    return messages


def _topics_by_id(bootstrap: str, prefix: str) -> tuple[dict[str, dict[str, Any]], int]:
    """Every output topic of ``prefix`` as {kind: {id: data}}, and how many messages they hold.

    Audit checkpoints are left out: they record when the process anchored its chain (wall
    time), not what the run computed.
    """
    names = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics
    by_kind: dict[str, dict[str, Any]] = {}
    total = 0
    for topic in sorted(n for n in names if n.startswith(f"{prefix}.")):
        records = by_kind.setdefault(topic.removeprefix(f"{prefix}."), {})
        for message in _read_through_markers(bootstrap, topic):
            envelope = decode_envelope(message.value())
            if envelope.data.get("kind") == CHECKPOINT_KIND:
                continue
            total += 1
            assert records.setdefault(envelope.id, envelope.data) == envelope.data, envelope.id
    return by_kind, total


def test_killed_once_every_output_topic_deduplicated_equals_an_uninterrupted_run(
    btc_slice: Path,
    tmp_path: Path,
    tansu: str,  # noqa: F811
) -> None:
    clean_dir, crashed_dir = tmp_path / "clean", tmp_path / "crashed"
    clean_dir.mkdir()
    crashed_dir.mkdir()
    done = _run(btc_slice, _config(clean_dir, _kafka(tansu, "clean")), clean_dir, "clean")
    assert done.returncode == 0, done.stderr

    config = _config(crashed_dir, _kafka(tansu, "crashed"))
    recovery = ("--recovery-dir", str(crashed_dir / "recovery"), "--snapshot-interval", "1")
    killed = _run(btc_slice, config, crashed_dir, "crashed", *recovery, env={CRASH_ENV: str(700)})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    finished = _run(btc_slice, config, crashed_dir, "crashed", *recovery)
    assert finished.returncode == 0, finished.stderr

    expected, _ = _topics_by_id(tansu, "clean")
    got, messages = _topics_by_id(tansu, "crashed")
    assert sorted(got) == sorted(expected)
    for kind in expected:
        assert got[kind] == expected[kind], kind
    assert len(expected["fills"]) == 9 and len(expected["candles"]) > 8_000
    assert messages >= sum(len(records) for records in got.values())
    assert store_contents(str(crashed_dir / "crashed.sqlite")) == store_contents(
        str(clean_dir / "clean.sqlite")
    )
