"""Dead letters are counted per occurrence: two identical bad rows are two rows, the same row
re-emitted by a resume is one (issue 11: "the run counted 9, the table holds 8")."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSource, run_main
from sqlalchemy import Engine, create_engine, inspect

from connectors.store.engine import open_store
from connectors.store.market import read_dead_letters, read_runs, write_dead_letters
from connectors.store.sink import StoreSink, StoreWriter
from flows.config import QuorumConfig
from flows.runner import run_replay
from operators.validation import validate_trades
from schemas.batches import TradeBatch
from schemas.records import DeadLetter
from tests.postgres import fresh_schema_url

SECOND = 1_000_000_000
T0 = 1_610_064_000 * SECOND

# Two identical rows the loader cannot read (no price) and two identical rows the validator
# rejects (negative price, same id, same time): four dead letters, two raw texts.
TRADES = (
    "ts,price,amount,id\n"
    "2021-01-08T00:00:00Z,40000.5,0.1,1\n"
    "2021-01-08T00:00:01Z,,0.2,2\n"
    "2021-01-08T00:00:02Z,40001.0,0.1,3\n"
    "2021-01-08T00:00:01Z,,0.2,2\n"
    "2021-01-08T00:00:03Z,-5,0.1,4\n"
    "2021-01-08T00:00:04Z,40002.0,0.3,5\n"
    "2021-01-08T00:00:03Z,-5,0.1,4\n"
    "2021-01-08T00:01:05Z,40003.0,0.3,6\n"
)


def test_two_identical_bad_rows_of_a_file_are_two_rows_and_counted_twice(tmp_path: Path) -> None:
    path = tmp_path / "btcusdt_trades_twins.csv"
    path.write_text(TRADES)
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    result = run_replay(
        [path], config=QuorumConfig(), store_url=url, stage="features", progress=False
    )

    engine = open_store(url)
    letters = read_dead_letters(engine, result.run_id)
    stored = Counter(letters["reason"].to_list())
    assert stored == {"missing_value": 2, "non_positive_price": 2}
    assert len(set(letters["raw"].to_list())) == 2  # two raw texts, four rows
    assert sorted(letters["occurrence"].to_list()) == ["row 2", "row 4", "trade #2", "trade #3"]
    summary = read_runs(engine).row(0, named=True)["summary"]
    assert summary["dead_letter_reasons"] == dict(stored)
    assert summary["dead_lettered"] == len(letters) == 4
    engine.dispose()


def _bad(trade_id: int) -> TradeBatch:
    """A bad trade whose raw text depends only on ``trade_id``."""
    return TradeBatch.from_columns(
        "BTC/USDT", [T0 + trade_id * SECOND], [-1.0], [1.0], trade_id=[trade_id]
    )


@pytest.mark.parametrize("epoch", [timedelta(0), timedelta(hours=1)], ids=["snapshot", "none"])
def test_a_resume_stores_each_occurrence_once(tmp_path: Path, epoch: timedelta) -> None:
    """The same bad trade twice before the crash and once after: three rows, whether the resume
    replays everything (no snapshot before the abort) or starts from the last snapshot."""
    url = str(tmp_path / "store.sqlite")
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    init_db_dir(recovery, 1)
    twin = _bad(1)
    items = [twin, _bad(2), twin, TestingSource.ABORT(), twin, _bad(3)]
    emitted: list[DeadLetter] = []

    def flow() -> Dataflow:
        flow = Dataflow("dead_letter_resume")
        source = op.input("in", flow, TestingSource(items))
        checked = validate_trades("validate", op.key_on("key", source, lambda b: b.symbol))
        op.inspect("seen", checked.dead, lambda _step, letter: emitted.append(letter))
        op.output("store", checked.dead, StoreSink(url, StoreWriter("run-1")))
        return flow

    config = RecoveryConfig(str(recovery))
    run_main(flow(), epoch_interval=epoch, recovery_config=config)
    run_main(flow(), epoch_interval=epoch, recovery_config=config)

    engine = open_store(url)
    letters = read_dead_letters(engine)
    assert letters["occurrence"].to_list() == [f"trade #{n}" for n in range(5)]
    assert letters["raw"].to_list().count(letters["raw"][0]) == 3  # the twin, three times
    if epoch == timedelta(hours=1):
        assert len(emitted) > len(letters)  # the resume emitted some again: stored once
    engine.dispose()


OLD_TABLE = (
    "CREATE TABLE dead_letters (id {id} PRIMARY KEY, run_id VARCHAR(64) NOT NULL, "
    "source VARCHAR(64) NOT NULL, symbol VARCHAR(64), reason VARCHAR(64) NOT NULL, "
    "detail TEXT NOT NULL, raw TEXT NOT NULL, raw_hash VARCHAR(64) NOT NULL, ts BIGINT, "
    "recorded_at BIGINT NOT NULL, CONSTRAINT uq_dead_letters_dedupe "
    "UNIQUE (run_id, source, reason, raw_hash))"
)


def _old_store(engine: Engine, id_type: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(OLD_TABLE.format(id=id_type))
        conn.exec_driver_sql(
            "INSERT INTO dead_letters (id, run_id, source, reason, detail, raw, raw_hash, "
            "recorded_at) VALUES (7, 'old', 'file', 'bad_json', 'not JSON', '{', 'h', 1)"
        )


def _check_upgraded(url: str) -> None:
    engine = open_store(url)
    kept = read_dead_letters(engine, "old")
    assert kept["id"].to_list() == [7] and kept["occurrence"].to_list() == [""]
    letter = DeadLetter(source="f", reason="r", detail="d", raw="x", occurrence="row 1")
    twin = letter.model_copy(update={"occurrence": "row 2"})
    write_dead_letters(engine, "new", [letter, twin, letter])
    assert read_dead_letters(engine, "new")["occurrence"].to_list() == ["row 1", "row 2"]
    names = [c["name"] for c in inspect(engine).get_unique_constraints("dead_letters")]
    assert names == ["uq_dead_letters_occurrence"]
    engine.dispose()
    open_store(url).dispose()  # a second open finds nothing to do


def test_an_older_sqlite_store_is_upgraded_keeping_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    old = create_engine(url)
    _old_store(old, "INTEGER")
    old.dispose()
    _check_upgraded(url)


def test_an_older_postgresql_store_is_upgraded_keeping_its_rows() -> None:
    with fresh_schema_url("quorum_upgrade") as url:
        old = create_engine(url)
        _old_store(old, "BIGSERIAL")
        old.dispose()
        _check_upgraded(url)
