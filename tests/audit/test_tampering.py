"""Each attack on the audit log from issue 11, by someone who can write the store file: what
`quorum audit verify` catches with the key and checkpoints, and what it cannot catch without.

The store holds a real trading run's ledger (orders, fills, a manual action) and its audit
chain; checkpoints go to a file beside it, which the attacker cannot write.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from connectors.audit.checkpoints import FileCheckpoints
from connectors.audit.config import AuditTrust
from connectors.store.audit import append_events, iter_chain, read_head, verify_store
from connectors.store.engine import open_store
from connectors.store.sink import StoreWriter
from connectors.store.trading import write_records
from flows.cli import main
from operators.audit.chain import GENESIS_HASH, KeyRequiredError, VerifyResult, canonical_json
from operators.audit.checkpoints import take_checkpoint
from operators.audit.events import to_audit_event
from operators.audit.keys import AuditKey
from schemas.records import AuditCheckpoint
from tests.execution.test_engine import action, candles, run, signal
from tests.execution.test_engine import engine as trading_engine

KEY_TEXT = "0123456789abcdef" * 4
KEY = AuditKey.from_secret(KEY_TEXT.encode())
LEDGER_KINDS = {"order", "fill", "manual_action"}


@dataclass
class Store:
    path: Path
    trust: AuditTrust
    kinds: list[str]

    def sql(self, *statements: str) -> None:
        engine = open_store(self.path)
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
        engine.dispose()

    def verify(self, trust: AuditTrust | None = None) -> VerifyResult:
        engine = open_store(self.path)
        try:
            return verify_store(engine, self.trust if trust is None else trust)
        finally:
            engine.dispose()

    def last_seq_outside_the_ledger(self) -> int:
        """The last record whose kind has no ledger table (invisible to the cross-check)."""
        return max(i for i, kind in enumerate(self.kinds) if kind not in LEDGER_KINDS)


def build(tmp_path: Path, key: AuditKey | None) -> Store:
    path = tmp_path / "quorum.sqlite"
    engine = open_store(path)
    records = run(
        trading_engine(),
        [
            candles("A/B", [100.0] * 15),
            signal(4, decision="review"),
            action(6, "approve_review", fused_id="fs-A/B-4"),
            signal(12, direction="short", decision="ignore"),
        ],
    )
    ledger = [r for r in records if type(r).__name__ in {"Order", "Fill", "ManualActionResult"}]
    write_records(engine, ledger, run_id="r1")
    trust = AuditTrust(key, (FileCheckpoints(tmp_path / "checkpoints.jsonl"),))
    events = [e for e in map(to_audit_event, records) if e is not None]
    appended = append_events(engine, events, key)
    trust.checkpoint(read_head(engine))
    engine.dispose()
    assert {"order", "fill", "manual_action"} <= {r.kind for r in appended}
    # the last records are not ledger kinds, so a cut there is invisible to the cross-check
    assert appended[-1].kind not in LEDGER_KINDS
    return Store(path, trust, [r.kind for r in appended])


@pytest.fixture(params=["keyed", "unkeyed"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return build(tmp_path, KEY if request.param == "keyed" else None)


def without_checkpoints(store: Store) -> AuditTrust:
    return AuditTrust(store.trust.key, ())


def rehash_from(store: Store, first: int) -> None:
    """What an attacker without the key does: edit record ``first``, then recompute every
    sha256 from there and move the head, so every link inside the store agrees."""
    engine = open_store(store.path)
    with engine.begin() as conn:
        rows = conn.exec_driver_sql(
            "SELECT seq, ts, kind, payload FROM audit_log WHERE seq >= ? ORDER BY seq", (first,)
        ).all()
        prev = conn.exec_driver_sql(
            "SELECT hash FROM audit_log WHERE seq = ?", (first - 1,)
        ).scalar_one_or_none()
        prev = prev or GENESIS_HASH
        for seq, ts, kind, payload in rows:
            if seq == first:
                payload = payload.replace('"A/B"', '"X/Y"')
            body = {
                "seq": seq,
                "ts": ts,
                "kind": kind,
                "payload": orjson.loads(payload),
                "prev_hash": prev,
            }
            digest = hashlib.sha256(canonical_json(body)).hexdigest()
            conn.exec_driver_sql(
                "UPDATE audit_log SET payload = ?, prev_hash = ?, hash = ?, key_id = NULL "
                "WHERE seq = ?",
                (payload, prev, digest, seq),
            )
            prev = digest
        conn.exec_driver_sql("UPDATE audit_head SET hash = ?", (prev,))
    engine.dispose()


def test_an_untouched_store_verifies_in_both_modes(store: Store) -> None:
    result = store.verify()
    assert result.ok, result.message
    assert result.anchored_seq == len(store.kinds) - 1
    assert result.key_id == (None if store.trust.key is None else KEY.key_id)
    keyed = store.trust.key is not None
    assert ("keyed (HMAC-SHA256" in result.message) == keyed
    assert ("unkeyed" in result.message) != keyed


def test_truncating_the_tail_and_rewriting_the_head(store: Store) -> None:
    cut = store.last_seq_outside_the_ledger()
    store.sql(
        f"DELETE FROM audit_log WHERE seq >= {cut}",
        f"UPDATE audit_head SET seq = {cut - 1}, "
        f"hash = (SELECT hash FROM audit_log WHERE seq = {cut - 1})",
    )
    # The store alone agrees with itself, keyed or not: only the checkpoint knows better.
    assert store.verify(without_checkpoints(store)).ok
    result = store.verify()
    assert not result.ok and result.bad_seq == cut and "truncated: the checkpoint" in result.message


def test_rehashing_from_record_n(store: Store) -> None:
    rehash_from(store, 3)
    alone = store.verify(without_checkpoints(store))
    if store.trust.key is None:
        assert alone.ok  # without key and checkpoint the rewrite is perfect
    else:
        assert alone.bad_seq == 3 and "not with the configured key" in alone.message
    result = store.verify()
    if store.trust.key is None:  # the checkpoint pins the head: it tells that, not where
        assert result.bad_seq == len(store.kinds) - 1
        assert "hash differs from the checkpoint" in result.message
    else:
        assert result.bad_seq == 3


def test_deleting_every_audit_record_and_the_head(store: Store) -> None:
    store.sql("DELETE FROM audit_log", "DELETE FROM audit_head")
    alone = store.verify(without_checkpoints(store))
    assert not alone.ok and alone.bad_seq is None  # the ledger still remembers
    assert any("orders in the store have no audit record" in f for f in alone.findings)
    assert any("fills in the store have no audit record" in f for f in alone.findings)
    result = store.verify()
    assert not result.ok and result.bad_seq == 0 and "chain ends at nothing" in result.message


def test_deleting_ledger_rows_that_were_audited(store: Store) -> None:
    store.sql("DELETE FROM fills WHERE fill_id = (SELECT MIN(fill_id) FROM fills)")
    result = store.verify()
    assert not result.ok
    assert any("audited fills are missing from the store" in f for f in result.findings)


def test_shifting_a_timestamp_by_less_than_a_microsecond(store: Store) -> None:
    store.sql("UPDATE audit_log SET ts = ts + 1 WHERE seq = 4")
    result = store.verify(without_checkpoints(store))
    assert result.bad_seq == 4 and "edited" in result.message


def test_a_forged_checkpoint_is_refused_with_the_key(tmp_path: Path) -> None:
    store = build(tmp_path, KEY)
    cut = store.last_seq_outside_the_ledger()
    store.sql(f"DELETE FROM audit_log WHERE seq >= {cut}")
    engine = open_store(store.path)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE audit_head SET seq = ?, hash = (SELECT hash FROM audit_log WHERE seq = ?)",
            (cut - 1, cut - 1),
        )
    head = read_head(engine)
    engine.dispose()
    # Someone who can write the checkpoint file too adds an unsigned and a badly signed one.
    writer = store.trust.writers[0]
    writer.write(take_checkpoint(head, written_at_ns=2**62, key=None))
    forged = take_checkpoint(head, written_at_ns=2**62, key=KEY).model_copy(
        update={"count": 10_000}
    )
    writer.write(forged)
    result = store.verify()
    assert not result.ok and "truncated: the checkpoint" in result.message


def test_a_keyed_chain_cannot_be_verified_without_its_key(tmp_path: Path) -> None:
    store = build(tmp_path, KEY)
    with pytest.raises(KeyRequiredError, match=f"keyed with audit key {KEY.key_id}"):
        store.verify(AuditTrust(None, store.trust.writers))


def test_the_command_reads_key_and_checkpoints_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = build(tmp_path, KEY)
    key_file = tmp_path / "audit.key"
    key_file.write_text(KEY_TEXT + "\n")
    monkeypatch.setenv("QUORUM_AUDIT_KEY_FILE", str(key_file))
    monkeypatch.setenv("QUORUM_AUDIT_CHECKPOINTS", str(tmp_path / "checkpoints.jsonl"))
    assert main(["audit", "verify", "--store", str(store.path)]) == 0
    out = capsys.readouterr().out
    assert f"keyed (HMAC-SHA256, key {KEY.key_id})" in out
    assert f"matches the latest checkpoint (seq {len(store.kinds) - 1})" in out
    assert KEY_TEXT not in out

    store.sql("DELETE FROM audit_log", "DELETE FROM audit_head")
    assert main(["audit", "verify", "--store", str(store.path)]) == 1
    err = capsys.readouterr().err
    assert "chain ends at nothing" in err

    monkeypatch.delenv("QUORUM_AUDIT_KEY_FILE")
    fresh = build(tmp_path / "again", KEY)
    assert main(["audit", "verify", "--store", str(fresh.path)]) == 2
    assert "verifying needs that key" in capsys.readouterr().err


def test_the_checkpoint_command_writes_a_signed_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = build(tmp_path, KEY)
    path = tmp_path / "elsewhere.jsonl"
    monkeypatch.setenv("QUORUM_AUDIT_KEY", KEY_TEXT)
    monkeypatch.setenv("QUORUM_AUDIT_CHECKPOINTS", str(path))
    assert main(["audit", "checkpoint", "--store", str(store.path)]) == 0
    assert f"signed with key {KEY.key_id}" in capsys.readouterr().out
    (checkpoint,) = FileCheckpoints(path).read_all()
    assert isinstance(checkpoint, AuditCheckpoint) and checkpoint.count == len(store.kinds)
    engine = open_store(store.path)
    assert [r.key_id for r in iter_chain(engine)] == [KEY.key_id] * len(store.kinds)
    engine.dispose()


def test_reviews_settled_by_the_flows_own_policy_count_as_audited(tmp_path: Path) -> None:
    """A backtest's review policy approves REVIEW decisions itself: the flow's audited ticket
    accounts for the queue's decided row, a missing one is reported."""
    engine = open_store(tmp_path / "quorum.sqlite")
    events = run(
        trading_engine(review_policy="approve"),
        [candles("A/B", [100.0] * 15), signal(4, decision="review")],
    )
    tickets = [e for e in events if type(e).__name__ == "ReviewTicket"]
    assert [t.status.value for t in tickets][-1] == "approved"
    StoreWriter("r1").write(engine, tickets)  # as the flow's store sink: settles the queue
    ticket_events = [to_audit_event(t) for t in tickets]
    append_events(engine, [e for e in ticket_events if e is not None])
    assert verify_store(engine).findings == ()
    engine.dispose()

    bare = open_store(tmp_path / "bare.sqlite")
    StoreWriter("r1").write(bare, tickets)
    findings = verify_store(bare).findings
    assert any("review decisions in the store have no audit record" in f for f in findings), (
        findings
    )
    bare.dispose()
