"""Signal tables: idempotent writes, review queue decisions, readers, the store sink."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bytewax.operators as op
import polars as pl
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main

from connectors.store.engine import open_store
from connectors.store.signals import (
    decide_review,
    read_fused,
    read_reliability,
    read_review_queue,
    read_signals,
    write_fused,
    write_reliability,
    write_signals,
)
from connectors.store.sink import StoreSink, StoreWriter
from schemas.common import Direction, Timeframe
from schemas.signals import (
    CalibrationBin,
    Contribution,
    Decision,
    FusedSignal,
    Signal,
    SourceReliability,
)

T = datetime(2022, 1, 3, 12, tzinfo=UTC)


def make_signal(i: int, confidence: float = 0.4) -> Signal:
    return Signal(
        signal_id=f"s{i}",
        asset="BTC/USDT",
        direction=Direction.LONG,
        confidence=confidence,
        timeframe=Timeframe.H1,
        origin="stat:zscore_reversion",
        meta={"z": -2.5, "close": 46_000.0, "nan": float("nan")},
        timestamp=T + timedelta(hours=i),
        expires_at=T + timedelta(hours=i + 4),
    )


def make_fused(i: int, decision: Decision) -> FusedSignal:
    contribution = Contribution(
        origin="stat:zscore_reversion",
        timeframe=Timeframe.H1,
        direction=Direction.LONG,
        confidence=0.6,
        weight=1.0,
        signed=0.6,
        share=0.6,
        signal_id=f"s{i}",
    )
    return FusedSignal(
        fused_id=f"f{i}",
        asset="BTC/USDT",
        timestamp=T + timedelta(hours=i),
        score=0.6,
        direction=Direction.LONG,
        decision=decision,
        contributions=[contribution],
        timeframe_scores={"1h": 0.6},
        consensus=0.6,
        reasons=["score +0.600"],
    )


def test_signals_round_trip_and_idempotence():
    engine = open_store("sqlite://")
    signals = [make_signal(i) for i in range(3)]
    write_signals(engine, signals)
    write_signals(engine, [*signals, make_signal(0, confidence=0.9)])  # replay + an update
    frame = read_signals(engine)
    assert frame.height == 3
    assert frame["confidence"].to_list() == [0.9, 0.4, 0.4]
    assert frame.schema["ts"] == pl.Datetime("ns", "UTC")
    assert frame["ts"][1] == T + timedelta(hours=1)
    assert frame["meta"][0] == {"z": -2.5, "close": 46_000.0, "nan": None}
    assert read_signals(engine, origin="rules:x").height == 0


def test_review_queue_keeps_decisions_across_replays():
    engine = open_store("sqlite://")
    fused = [make_fused(0, Decision.REVIEW), make_fused(1, Decision.OPEN)]
    write_fused(engine, fused)
    queue = read_review_queue(engine)
    assert queue["fused_id"].to_list() == ["f0"] and queue["status"].to_list() == ["pending"]
    decide_review(engine, "f0", "rejected", reviewer="ana", comment="news", decided_at=T)
    write_fused(engine, fused)  # a recovery replay must not reset the decision
    decided = read_review_queue(engine, status="rejected")
    assert decided["reviewer"].to_list() == ["ana"] and decided["decided_at"][0] == T
    with pytest.raises(ValueError, match="already decided: rejected"):
        decide_review(engine, "f0", "approved", reviewer="bob", decided_at=T)
    with pytest.raises(KeyError, match="not in the review queue"):
        decide_review(engine, "f1", "approved", reviewer="bob", decided_at=T)
    with pytest.raises(ValueError, match="status must be"):
        decide_review(engine, "f0", "maybe", reviewer="bob", decided_at=T)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="status must be one of"):
        read_review_queue(engine, status="done")
    frame = read_fused(engine)
    assert frame["decision"].to_list() == ["review", "open"]
    assert frame["contributions"][0][0]["signal_id"] == "s0"


def test_reliability_latest_per_source():
    engine = open_store("sqlite://")
    snapshots = [
        SourceReliability(
            asset="BTC/USDT",
            source="stat:x@1h",
            origin="stat:x",
            timeframe=Timeframe.H1,
            ts=T + timedelta(hours=i),
            prior=1.0,
            weight=1.0 + i / 10,
            resolved=i,
            hits=i,
            calibration=[
                CalibrationBin(low=0.5, high=1.0, count=i, mean_predicted=None, observed=None)
            ],
        )
        for i in range(3)
    ]
    write_reliability(engine, snapshots)
    write_reliability(engine, snapshots)
    assert read_reliability(engine).height == 3
    latest = read_reliability(engine, latest=True)
    assert latest["weight"].to_list() == [1.2]


def test_store_sink_writes_signal_records(tmp_path):
    url = str(tmp_path / "store.sqlite")
    items = [make_signal(0), make_fused(0, Decision.REVIEW), ("BTC/USDT", make_signal(1))]
    flow = Dataflow("sink")
    stream = op.input("in", flow, TestingSource(items + items))
    op.output("store", stream, StoreSink(url, StoreWriter("run-1")))
    run_main(flow)
    engine = open_store(url)
    assert read_signals(engine).height == 2
    assert read_fused(engine).height == 1 and read_review_queue(engine).height == 1
    engine.dispose()
