"""Versions in the store (SQLite and PostgreSQL): each change is one audited version, a retried
request records it once, a revert is a new version, and the inbox hands flows the version in force
and every new one."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from connectors.audit.config import AuditTrust
from connectors.store.audit import iter_chain, verify_store
from connectors.store.control import (
    latest_version,
    read_applied,
    read_versions,
    record_change,
    revert_to,
)
from connectors.store.engine import open_store
from connectors.store.inbox import ManualActionInbox
from connectors.store.sink import StoreWriter
from operators.control.settings import ControlBase, ControlError
from operators.fusion.config import FusionConfig
from operators.risk.config import RiskConfig
from schemas.control import ControlApplied, ControlChange, ControlUpdate
from tests.postgres import fresh_schema_url

T = datetime(2026, 1, 1, tzinfo=UTC)
BASE = ControlBase(FusionConfig(), RiskConfig(), ("rules:a", "rules:b"))
TRUST = AuditTrust()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    if request.param == "sqlite":
        url = str(tmp_path / "store.sqlite")
        engine = open_store(url)
        yield url, engine
        engine.dispose()
        return
    with fresh_schema_url("quorum_control") as url:
        engine = open_store(url)
        yield url, engine
        engine.dispose()


def _set(engine: Engine, change_id: str | None = None, **fields) -> object:
    return record_change(
        engine,
        BASE,
        ControlChange(**fields),
        actor="ana",
        reason="test",
        via="api:k1",
        now=T,
        change_id=change_id,
        trust=TRUST,
    )


def test_versions_are_numbered_audited_and_a_retry_records_one(store) -> None:
    _url, engine = store
    one = _set(engine, "req-1", fusion={"open_above": 0.8})
    again = _set(engine, "req-1", fusion={"open_above": 0.8})
    two = _set(engine, disable=["rules:a"])
    assert (one.version, again.version, two.version) == (1, 1, 2)
    assert two.overrides.fusion == {"open_above": 0.8} and two.overrides.disabled == ("rules:a",)
    audits = [r for r in iter_chain(engine) if r.kind == "control_change"]
    assert [(r.payload["version"], r.payload["actor"], r.payload["via"]) for r in audits] == [
        (1, "ana", "api:k1"),
        (2, "ana", "api:k1"),
    ]
    assert audits[1].payload["diff"] == [
        {"path": "sources.rules:a", "before": "enabled", "after": "disabled"}
    ]
    assert verify_store(engine).ok


def test_a_revert_is_a_new_version_with_the_old_values(store) -> None:
    _url, engine = store
    _set(engine, fusion={"open_above": 0.8})
    _set(engine, risk={"max_open_positions": 2}, disable=["rules:b"])
    back = revert_to(engine, BASE, 1, actor="bo", reason="too tight", via="cli", now=T, trust=TRUST)
    assert (back.version, back.reverts_to, back.actor) == (3, 1, "bo")
    assert back.overrides == read_versions(engine)[0].overrides
    assert sorted(c.path for c in back.diff) == ["risk.max_open_positions", "sources.rules:b"]
    with pytest.raises(ControlError, match="already in force"):
        revert_to(engine, BASE, 1, actor="bo", reason="", via="cli", now=T, trust=TRUST)
    with pytest.raises(ControlError, match="no version 9"):
        revert_to(engine, BASE, 9, actor="bo", reason="", via="cli", now=T, trust=TRUST)
    file = revert_to(engine, BASE, 0, actor="bo", reason="", via="cli", now=T, trust=TRUST)
    assert file.overrides.is_empty() and latest_version(engine).version == 4


def test_a_refused_change_writes_nothing(store) -> None:
    _url, engine = store
    with pytest.raises(ControlError, match=r"risk\.max_open_positions"):
        _set(engine, risk={"max_open_positions": -1})
    assert read_versions(engine) == [] and list(iter_chain(engine)) == []


def test_what_flows_made_of_a_version_is_stored_idempotently(store) -> None:
    _url, engine = store
    applied = ControlApplied(version=1, applied=False, actor="ana", detail="no source", ts=T)
    StoreWriter("run").write(engine, [applied, applied])
    assert read_applied(engine) == {1: applied}


def test_the_inbox_hands_a_starting_flow_the_version_in_force_then_each_new_one(store) -> None:
    url, engine = store
    _set(engine, fusion={"open_above": 0.8})
    inbox = ManualActionInbox(url, poll_seconds=0.01)
    part = inbox.build_part("inbox", "inbox", None)
    [first] = part.next_batch()
    assert isinstance(first, ControlUpdate) and first.version == 1
    assert first.overrides.fusion == {"open_above": 0.8}
    _set(engine, disable=["rules:a"])
    [second] = part.next_batch()
    assert (second.version, second.overrides.disabled, second.actor) == (2, ("rules:a",), "ana")
    cursor = part.snapshot()
    part.close()
    resumed = inbox.build_part("inbox", "inbox", cursor)  # a resumed flow: its cursor, no replay
    assert resumed.next_batch() == []
    resumed.close()
    replayed = inbox.build_part("inbox", "inbox", -1)  # from the start: every version again
    assert [u.version for u in replayed.next_batch()] == [1, 2]
    replayed.close()


def test_people_changing_at_the_same_moment_get_consecutive_versions(store) -> None:
    url, engine = store
    writers = 4

    def change(i: int) -> int:
        own = open_store(url)  # each person through their own connection pool
        try:
            return _set(own, fusion={"priors": {"rules:a": 1.0 + i}}).version
        finally:
            own.dispose()

    with ThreadPoolExecutor(writers) as pool:
        versions = sorted(pool.map(change, range(writers)))
    assert versions == [1, 2, 3, 4]
    stored = read_versions(engine)
    assert [v.version for v in stored] == versions
    assert [r.payload["version"] for r in iter_chain(engine)] == versions
    assert verify_store(engine).ok
