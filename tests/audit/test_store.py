"""The stored audit log: idempotent appends, tampering in the database, `quorum audit`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.store.audit import (
    AuditConflictError,
    append_events,
    append_records,
    read_head,
    tail,
    verify_store,
)
from connectors.store.engine import open_store
from flows.cli import main
from operators.audit.chain import AuditChain, AuditEvent

T0 = datetime(2022, 1, 1, tzinfo=UTC)


def events(n: int, start: int = 0) -> list[AuditEvent]:
    return [
        AuditEvent("fill", T0 + timedelta(minutes=i), {"n": i, "qty": f"0.{i}"})
        for i in range(start, start + n)
    ]


@pytest.fixture
def store(tmp_path: Path) -> str:
    path = tmp_path / "quorum.sqlite"
    engine = open_store(path)
    append_events(engine, events(8))
    engine.dispose()
    return str(path)


def sql(path: str, *statements: str) -> None:
    engine = open_store(path)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()


def verify(path: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify", "--store", path])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_intact_log_exits_zero(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = verify(store, capsys)
    assert code == 0 and "audit chain intact: 8 records" in output


@pytest.mark.parametrize(
    ("statements", "bad_seq", "words"),
    [
        (['UPDATE audit_log SET payload = \'{"n":3,"qty":"9.9"}\' WHERE seq = 3'], 3, "edited"),
        (["UPDATE audit_log SET payload = 'not json' WHERE seq = 5"], 5, "edited"),
        (["UPDATE audit_log SET ts = ts + 1000 WHERE seq = 6"], 6, "edited"),
        (["DELETE FROM audit_log WHERE seq = 4"], 4, "record 4 is missing"),
        (
            [  # reorder: records 2 and 5 swap places
                "UPDATE audit_log SET seq = -1 WHERE seq = 2",
                "UPDATE audit_log SET seq = 2 WHERE seq = 5",
                "UPDATE audit_log SET seq = 5 WHERE seq = -1",
            ],
            2,
            "reordered",
        ),
        (["DELETE FROM audit_log WHERE seq >= 6"], 6, "truncated"),
        (["DELETE FROM audit_log WHERE seq >= 6", "UPDATE audit_head SET seq = 5"], 5, "replaced"),
        (["DELETE FROM audit_head"], 7, "head row is missing"),
    ],
)
def test_tampering_exits_non_zero_naming_the_record(
    store: str,
    capsys: pytest.CaptureFixture[str],
    statements: list[str],
    bad_seq: int,
    words: str,
) -> None:
    sql(store, *statements)
    code, output = verify(store, capsys)
    assert code == 1
    assert f"BROKEN at record {bad_seq}" in output and words in output
    engine = open_store(store)
    assert verify_store(engine).bad_seq == bad_seq
    engine.dispose()


def test_missing_store_or_log_is_a_user_error(tmp_path: Path, capsys) -> None:
    code, output = verify(str(tmp_path / "absent.sqlite"), capsys)
    assert code == 2 and "no store at" in output
    empty = tmp_path / "empty.sqlite"
    open_store(empty, create=False).connect().close()
    code, output = verify(str(empty), capsys)
    assert code == 2 and "has no audit log" in output


def test_tail_prints_the_last_records(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "tail", "-n", "3", "--store", store]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [int(line.split()[0]) for line in lines] == [5, 6, 7]
    assert '"qty":"0.7"' in lines[-1]


def test_appends_are_idempotent_and_conflicts_refused(tmp_path: Path) -> None:
    engine = open_store(tmp_path / "a.sqlite")
    records = append_events(engine, events(4))
    assert append_records(engine, records) == 0  # a replay of the same records
    assert append_records(engine, records[2:]) == 0
    assert read_head(engine) == (3, records[-1].hash)
    other = AuditChain.after((1, records[1].hash)).append(AuditEvent("fill", T0, {"x": 1}))
    with pytest.raises(AuditConflictError, match="seq 2 already holds a different record"):
        append_records(engine, [other])
    stray = AuditChain(10, "a" * 64).append(AuditEvent("fill", T0, {}))
    with pytest.raises(AuditConflictError, match="record 9 is not stored"):
        append_records(engine, [stray])
    unlinked = AuditChain(4, "b" * 64).append(AuditEvent("fill", T0, {}))
    with pytest.raises(AuditConflictError, match="does not link to the stored record 3"):
        append_records(engine, [unlinked])
    more = append_events(engine, events(2, start=4))
    assert [r.seq for r in more] == [4, 5] and verify_store(engine).ok
    assert [r.seq for r in tail(engine, 2)] == [4, 5]
    engine.dispose()
