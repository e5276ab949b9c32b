"""The Bytewax store sink: dispatch by type, one transaction per batch, idempotent replays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bytewax.operators as op
import numpy as np
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, run_main
from sqlalchemy import Column, Integer, MetaData, String, Table, select

from connectors.store import sink as store_sink
from connectors.store.engine import open_store, upsert
from connectors.store.market import (
    read_candles,
    read_dead_letters,
    read_features,
    read_late,
    row_counts,
)
from connectors.store.sink import StoreSink, StoreWriter, register_writer, writer_for
from schemas.batches import CandleBatch, FeatureBatch
from schemas.records import DeadLetter, LateTrade


def _letter(n: int) -> DeadLetter:
    return DeadLetter(source="replay", reason="non_positive_price", detail=f"#{n}", raw=f"-{n}")


def _late(n: int) -> LateTrade:
    ts = datetime(2022, 1, 1, tzinfo=UTC) + timedelta(seconds=n)
    return LateTrade(symbol="BTC-PERP", ts=ts, price=46000.0 + n, amount=0.5, watermark=ts)


def _flow(items: list, url: str, seen: list | None = None) -> Dataflow:
    flow = Dataflow("store_sink_test")
    stream = op.input("in", flow, TestingSource(items))
    if seen is not None:
        op.output("seen", stream, TestingSink(seen))
    op.output("store", stream, StoreSink(url, StoreWriter(run_id="run-1")))
    return flow


def test_sink_stores_every_market_record_type(tmp_path: Path, btc_batch: CandleBatch) -> None:
    url = str(tmp_path / "store.sqlite")
    head = btc_batch.take(np.arange(30))
    features = FeatureBatch(head, {"rsi_14": np.full(30, 55.0), "gap_score": np.zeros(30)})
    items = [
        head,
        ("BTC-PERP", btc_batch.take(np.arange(30, 60))),  # keyed streams carry (key, value)
        features,
        _letter(1),
        _late(1),
    ]
    run_main(_flow(items, url))

    engine = open_store(url)
    assert row_counts(engine) == {
        "candles": 60, "features": 30, "dead_letters": 1, "late_trades": 1, "runs": 0,
    }  # fmt: skip
    assert read_candles(engine)["close"].to_list() == btc_batch.close[:60].tolist()
    assert read_features(engine)["gap_score"].to_list() == [0.0] * 30
    assert read_dead_letters(engine)["run_id"].to_list() == ["run-1"]
    assert read_late(engine)["price"].to_list() == [46001.0]
    engine.dispose()


def test_replay_after_a_crash_stores_nothing_twice(tmp_path: Path, btc_batch: CandleBatch) -> None:
    """Resume from a snapshot taken before the crash: the sink sees items again, the store not."""
    url = str(tmp_path / "store.sqlite")
    recovery_dir = tmp_path / "recovery"
    recovery_dir.mkdir()
    init_db_dir(recovery_dir, 1)
    chunks = [btc_batch.take(np.arange(i, i + 100)) for i in range(0, 400, 100)]
    items = [
        chunks[0],
        _letter(1),
        chunks[1],
        _late(1),
        TestingSource.ABORT(),
        chunks[2],
        _letter(2),
    ]
    items += [chunks[3], _late(2), _letter(1)]
    seen: list = []
    # An hour-long epoch: no snapshot completes before the abort, so the resume replays all.
    config = RecoveryConfig(str(recovery_dir))
    run_main(_flow(items, url, seen), epoch_interval=timedelta(hours=1), recovery_config=config)
    run_main(_flow(items, url, seen), epoch_interval=timedelta(hours=1), recovery_config=config)

    assert sum(isinstance(x, CandleBatch) for x in seen) == 6  # chunks 0 and 1 were replayed
    engine = open_store(url)
    assert row_counts(engine)["candles"] == 400
    assert read_dead_letters(engine)["detail"].to_list() == ["#1", "#2"]
    assert len(read_late(engine)) == 2
    frame = read_candles(engine)
    assert frame["ts"].dt.epoch("ns").to_list() == btc_batch.ts_ns[:400].tolist()
    engine.dispose()


@dataclass(frozen=True)
class _Note:
    key: str
    text: str


@dataclass(frozen=True)
class _UrgentNote(_Note):
    pass


_notes = Table(
    "notes_for_sink_test",
    MetaData(),
    Column("key", String(16), primary_key=True),
    Column("text", String(64)),
    Column("n", Integer),
)


def _write_notes(conn, items: list[_Note], run_id: str) -> int:
    rows = [{"key": i.key, "text": f"{run_id}:{i.text}", "n": len(i.text)} for i in items]
    return upsert(conn, _notes, rows, ("key",))


def test_other_domains_plug_in_their_records(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(store_sink, "_WRITERS", dict(store_sink._WRITERS))
    register_writer(_Note, _write_notes)
    register_writer(_Note, _write_notes)  # the same function again: harmless
    with pytest.raises(ValueError, match="already registered"):
        register_writer(_Note, lambda conn, items, run_id: 0)
    assert writer_for(_UrgentNote) is _write_notes  # subclasses use their base's writer

    url = str(tmp_path / "store.sqlite")
    setup = open_store(url)
    _notes.create(setup)
    setup.dispose()
    run_main(_flow([_Note("a", "hello"), _UrgentNote("b", "now!"), _letter(3)], url))
    engine = open_store(url)
    with engine.connect() as conn:
        rows = conn.execute(select(_notes).order_by(_notes.c.key)).all()
    assert [tuple(r) for r in rows] == [("a", "run-1:hello", 5), ("b", "run-1:now!", 4)]
    assert len(read_dead_letters(engine)) == 1
    engine.dispose()


def test_a_batch_is_one_transaction(tmp_path: Path, btc_batch: CandleBatch) -> None:
    engine = open_store(tmp_path / "store.sqlite")

    def fail(conn, items, run_id):
        raise RuntimeError("disk full")

    writer = StoreWriter("run-1", writers={_Note: fail})
    with pytest.raises(RuntimeError, match="disk full"):
        writer.write(engine, [btc_batch.take(np.arange(10)), _letter(1), _Note("a", "x")])
    assert row_counts(engine)["candles"] == 0 and row_counts(engine)["dead_letters"] == 0
    engine.dispose()


def test_unknown_item_types_fail_before_anything_is_written(
    tmp_path: Path, btc_batch: CandleBatch
) -> None:
    engine = open_store(tmp_path / "store.sqlite")
    with pytest.raises(TypeError, match="no store writer for dict; register one"):
        StoreWriter("run-1").write(engine, [btc_batch, {"close": 1.0}])
    assert row_counts(engine)["candles"] == 0
    engine.dispose()
