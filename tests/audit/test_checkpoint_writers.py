"""Checkpoint writers: the append-only file and the PostgreSQL table (the local server; the
test skips with the reason when it does not answer), read back and used by verify."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from connectors.audit.checkpoints import CheckpointFormatError, FileCheckpoints, PostgresCheckpoints
from connectors.audit.config import AuditSettings
from connectors.store.audit import append_events, read_head, verify_store
from connectors.store.engine import open_store
from operators.audit.chain import AuditEvent
from operators.audit.checkpoints import take_checkpoint
from operators.audit.keys import AuditKey

POSTGRES_URL = os.environ.get(
    "QUORUM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
KEY = AuditKey.from_secret(b"k" * 32)
T0 = datetime(2022, 1, 1, tzinfo=UTC)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose search path is a private schema, dropped afterwards."""
    pytest.importorskip(
        "psycopg", reason="psycopg is not installed (pip install 'quorum[postgres]')"
    )
    admin = create_engine(POSTGRES_URL)
    schema = f"cp_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL.split('@')[-1]}: {exc.orig}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_the_file_is_appended_to_and_a_bad_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    writer = FileCheckpoints(path)
    assert writer.read_all() == []
    for seq in (3, 7):
        writer.write(take_checkpoint((seq, "ab" * 32), written_at_ns=seq, key=KEY))
    assert [cp.count for cp in writer.read_all()] == [4, 8]
    with path.open("a") as handle:
        handle.write("not a checkpoint\n")
    with pytest.raises(CheckpointFormatError, match=r"cp.jsonl:3 is not a checkpoint"):
        writer.read_all()


def test_the_postgres_table_keeps_every_checkpoint(postgres_url: str) -> None:
    writer = PostgresCheckpoints(postgres_url)
    try:
        for seq in (1, 5):
            writer.write(take_checkpoint((seq, "cd" * 32), written_at_ns=seq, key=KEY))
        back = writer.read_all()
        assert [(cp.count, cp.key_id) for cp in back] == [(2, KEY.key_id), (6, KEY.key_id)]
    finally:
        writer.close()


def test_verify_uses_the_postgres_checkpoints(postgres_url: str, tmp_path: Path) -> None:
    settings = AuditSettings.from_environment(
        {
            "QUORUM_AUDIT_KEY": "k" * 32,
            "QUORUM_AUDIT_CHECKPOINTS": "off",
            "QUORUM_AUDIT_CHECKPOINT_DB": postgres_url,
        }
    )
    store = tmp_path / "store.sqlite"
    trust = settings.trust(str(store))
    assert [type(w).__name__ for w in trust.writers] == ["PostgresCheckpoints"]
    engine = open_store(store)
    events = [AuditEvent("note", T0 + timedelta(minutes=i), {"i": i}) for i in range(5)]
    append_events(engine, events, trust.key)
    trust.checkpoint(read_head(engine))
    assert verify_store(engine, trust).anchored_seq == 4
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_log WHERE seq >= 3")
        conn.exec_driver_sql(
            "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_log WHERE seq = 2)"
        )
    result = verify_store(engine, trust)
    assert not result.ok and "truncated: the checkpoint" in result.message
    engine.dispose()


def test_where_never_shows_the_password() -> None:
    writer = PostgresCheckpoints("postgresql+psycopg://quorum:hunter2-secret@127.0.0.1:1/db")
    assert "hunter2-secret" not in writer.where and "***" in writer.where
    writer.close()
