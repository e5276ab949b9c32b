"""The audit chain written by a Bytewax flow: complete, in order, and exactly once after a
crash and resume (the replayed records are recognised, not appended twice)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSource, run_main

from connectors.store.audit import AuditChainSink, iter_chain, verify_store
from connectors.store.engine import open_store
from operators.audit.events import audit_trail, to_audit_event
from operators.execution.engine import TradingEngine
from operators.execution.operator import trading_core
from operators.execution.records import ManualAction
from operators.execution.trading_config import TradingConfig
from schemas.batches import CandleBatch
from schemas.common import NS_PER_MINUTE, ns_to_datetime
from schemas.signals import FusedSignal

T0 = 1_641_038_400_000_000_000
CONFIG = TradingConfig(portfolio={"equity_interval_seconds": 600})


def inputs() -> list:
    """Ten-minute candle batches, each followed by the decision made at its end."""
    items: list = []
    closes = [100.0 + 3 * ((i // 10) % 3) for i in range(120)]
    for start in range(0, 120, 10):
        ts = [T0 + (start + i) * NS_PER_MINUTE for i in range(10)]
        chunk = closes[start : start + 10]
        highs, lows = [c + 0.5 for c in chunk], [c - 0.5 for c in chunk]
        items.append(
            CandleBatch.from_columns("A/B", "1m", ts, chunk, highs, lows, chunk, [1e6] * 10)
        )
        if start == 20:  # a person approves the review of minute 20 at minute 25
            approve = ManualAction(
                action_id="m1",
                kind="approve_review",
                actor="ops",
                fused_id="fs-20",
                ts=ns_to_datetime(T0 + 25 * NS_PER_MINUTE),
            )
            items.append(approve)
        k = start + 10
        direction = "long" if (start // 10) % 2 else "short"
        items.append(
            FusedSignal(
                fused_id=f"fs-{k}",
                asset="A/B",
                timestamp=ns_to_datetime(T0 + k * NS_PER_MINUTE),
                score=0.8 if direction == "long" else -0.8,
                direction=direction,
                decision=["open", "review", "ignore"][(start // 10) % 3],
            )
        )
    return items


def flow_for(items: list, url: str) -> Dataflow:
    flow = Dataflow("audit_flow")
    out = trading_core("trading", op.input("in", flow, TestingSource(items, 2)), CONFIG)
    audit_trail("audit", out, AuditChainSink(url))
    return flow


def expected_kinds() -> list[str]:
    core = TradingEngine(CONFIG, atr={})
    events = core.process(inputs()) + core.flush()
    return [e.kind for e in map(to_audit_event, events) if e is not None]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[int, str, str]]:
    url = str(tmp_path_factory.mktemp("ref") / "ref.sqlite")
    run_main(flow_for(inputs(), url))
    engine = open_store(url)
    records = [(r.seq, r.kind, r.hash) for r in iter_chain(engine)]
    engine.dispose()
    return records


def test_the_flow_writes_every_audited_record_in_order(reference: list, tmp_path: Path) -> None:
    assert [kind for _, kind, _ in reference] == expected_kinds()
    kinds = {kind for _, kind, _ in reference}
    assert {"fused_signal", "review", "manual_action"} <= kinds
    assert [seq for seq, _, _ in reference] == list(range(len(reference)))


def test_a_second_run_continues_the_chain(reference: list, tmp_path: Path) -> None:
    url = str(tmp_path / "twice.sqlite")
    run_main(flow_for(inputs(), url))
    run_main(flow_for(inputs(), url))
    engine = open_store(url)
    result = verify_store(engine, ledger=False)
    assert result.ok and result.checked == 2 * len(reference)
    engine.dispose()


def test_crash_and_resume_write_the_chain_exactly_once(reference: list, tmp_path: Path) -> None:
    url = str(tmp_path / "resumed.sqlite")
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    init_db_dir(recovery, 1)
    items = inputs()
    items.insert(len(items) * 2 // 3, TestingSource.ABORT())
    flow = flow_for(items, url)
    config = RecoveryConfig(str(recovery))
    run_main(flow, epoch_interval=timedelta(0), recovery_config=config)  # stops at the abort
    engine = open_store(url)
    written_before = sum(1 for _ in iter_chain(engine))
    assert 0 < written_before < len(reference)
    run_main(flow, epoch_interval=timedelta(0), recovery_config=config)
    assert [(r.seq, r.kind, r.hash) for r in iter_chain(engine)] == reference
    assert verify_store(engine, ledger=False).ok
    engine.dispose()
