"""A store written before a column existed gets it on open (nullable columns only)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from connectors.store.audit import append_events, verify_store
from connectors.store.engine import open_store
from operators.audit.chain import AuditEvent
from schemas.common import ns_to_datetime


def test_an_older_audit_log_gains_key_id_and_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # audit_log as it was before keyed chains
        conn.execute(
            "CREATE TABLE audit_log (seq BIGINT PRIMARY KEY, ts BIGINT NOT NULL, "
            "kind VARCHAR(64) NOT NULL, payload TEXT NOT NULL, prev_hash VARCHAR(64) NOT NULL, "
            "hash VARCHAR(64) NOT NULL UNIQUE)"
        )
    engine = open_store(path)
    with engine.connect() as conn:
        columns = [row[1] for row in conn.exec_driver_sql("PRAGMA table_info(audit_log)")]
    assert columns[-1] == "key_id"
    append_events(engine, [AuditEvent("note", ns_to_datetime(0), {"n": 1})])
    assert verify_store(engine, ledger=False).ok
    engine.dispose()
