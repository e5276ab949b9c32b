"""The WAL switch of a store being opened by two processes at once: "locked" is waited out."""

from __future__ import annotations

import sqlite3

import pytest

from connectors.store.engine import open_store, switch_to_wal


class Cursor:
    """Answers the WAL pragma with ``failures`` errors first, then succeeds."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        self.calls = 0

    def execute(self, sql: str) -> None:
        assert sql == "PRAGMA journal_mode=WAL"
        self.calls += 1
        if self.failures:
            raise sqlite3.OperationalError(self.failures.pop(0))


def test_a_locked_file_is_tried_again_until_the_switch_succeeds() -> None:
    cursor = Cursor(["database is locked"] * 3)
    switch_to_wal(cursor, pause_s=0)
    assert cursor.calls == 4


def test_other_errors_are_not_retried_and_a_lock_that_stays_gives_up() -> None:
    broken = Cursor(["disk I/O error"])
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        switch_to_wal(broken, pause_s=0)
    assert broken.calls == 1
    stuck = Cursor(["database is locked"] * 100)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        switch_to_wal(stuck, pause_s=0)
    assert stuck.calls == 20


def test_a_store_file_is_opened_in_wal_mode(tmp_path) -> None:
    engine = open_store(tmp_path / "q.sqlite")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
    engine.dispose()
