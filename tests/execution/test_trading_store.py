"""Trading tables: idempotent writes through the store sink, exact round trips, readers."""

from __future__ import annotations

from decimal import Decimal

import bytewax.operators as op
import polars as pl
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main

from connectors.store.engine import open_store
from connectors.store.sink import StoreSink, StoreWriter
from connectors.store.trading import (
    load_records,
    manual_actions,
    read_equity,
    read_fills,
    read_orders,
    read_positions,
    read_reviews,
    read_risk_decisions,
    read_table,
    stored_types,
    write_records,
)
from operators.execution.engine import TradingEngine
from operators.execution.records import (
    ManualAction,
    ManualActionResult,
    ReviewTicket,
    TradingSummary,
)
from operators.execution.trading_config import TradingConfig
from operators.portfolio.book import EquityPoint
from operators.risk.state import TradingStateChange
from schemas.batches import CandleBatch
from schemas.common import NS_PER_MINUTE, ns_to_datetime
from schemas.signals import FusedSignal
from schemas.trading import Fill, Order, OrderIntent, Position, RiskDecision

T0 = 1_641_038_400_000_000_000


def sig(k: int, decision: str) -> FusedSignal:
    at = ns_to_datetime(T0 + k * NS_PER_MINUTE)
    return FusedSignal(
        fused_id=f"fs-{k}",
        asset="A/B",
        timestamp=at,
        score=0.8,
        direction="long",
        decision=decision,
    )


def trading_run() -> list:
    n = 40
    closes = [100.0 + (i % 7) - 3 for i in range(n)]
    market = CandleBatch.from_columns(
        "A/B",
        "1m",
        [T0 + i * NS_PER_MINUTE for i in range(n)],
        closes,
        [c + 1 for c in closes],
        [c - 1 for c in closes],
        closes,
        [1e6] * n,
    )
    halt = ManualAction(
        action_id="m1",
        kind="set_trading_state",
        actor="ops",
        state="halted",
        ts=ns_to_datetime(T0 + 30 * NS_PER_MINUTE),
    )
    config = TradingConfig(portfolio={"equity_interval_seconds": 600})
    engine = TradingEngine(config, atr={"A/B": 1.0})
    out = engine.process([market, sig(3, "open"), sig(12, "review"), halt]) + engine.flush()
    return [e for e in out if type(e) in stored_types()]  # fused signals belong to issue 3


@pytest.fixture(scope="module")
def events() -> list:
    return trading_run()


def test_every_stored_type_round_trips_exactly(events: list) -> None:
    engine = open_store("sqlite://")
    write_records(engine, events, run_id="r1")
    for record_type in (
        OrderIntent,
        RiskDecision,
        Fill,
        EquityPoint,
        TradingStateChange,
        TradingSummary,
    ):
        expected = [e for e in events if isinstance(e, record_type)]
        assert expected, record_type
        assert load_records(engine, record_type, run_id="r1") == expected
    latest_orders = {o.order_id: o for o in events if isinstance(o, Order)}
    assert load_records(engine, Order, run_id="r1") == list(latest_orders.values())
    tickets = {t.fused_id: t for t in events if isinstance(t, ReviewTicket)}
    assert load_records(engine, ReviewTicket, run_id="r1") == list(tickets.values())
    positions = [p for p in events if isinstance(p, Position)]
    assert load_records(engine, Position, run_id="r1") == positions


def test_store_sink_writes_the_core_output_idempotently(tmp_path, events: list) -> None:
    url = str(tmp_path / "store.sqlite")
    for _ in range(2):  # a replay after recovery writes the same records again
        flow = Dataflow("trading_store")
        op.output(
            "store",
            op.input("in", flow, TestingSource(events, 7)),
            StoreSink(url, StoreWriter(run_id="r1")),
        )
        run_main(flow)
    engine = open_store(url)
    assert len(read_fills(engine, "r1")) == sum(isinstance(e, Fill) for e in events)
    assert len(read_equity(engine)) == sum(isinstance(e, EquityPoint) for e in events)
    orders = read_orders(engine, "r1")
    final = {o.order_id: o.status.value for o in events if isinstance(o, Order)}
    assert dict(zip(orders["order_id"], orders["status"], strict=True)) == final
    assert (orders["estimated_fee"] > 0).all() and (orders["estimated_slippage"] > 0).all()
    decisions = [d for d in events if isinstance(d, RiskDecision)]
    assert read_risk_decisions(engine)["approved"].to_list() == [d.approved for d in decisions]
    assert read_reviews(engine, status="queued")["fused_id"].to_list() == ["fs-12"]
    assert read_fills(engine)["ts"].dtype == pl.Datetime("ns", "UTC")
    engine.dispose()


def test_runs_are_kept_apart_and_latest_positions(events: list) -> None:
    engine = open_store("sqlite://")
    write_records(engine, events, run_id="a")
    write_records(engine, [e for e in events if isinstance(e, Fill)][:1], run_id="b")
    assert len(read_fills(engine, "b")) == 1
    assert len(read_fills(engine)) == len(read_fills(engine, "a")) + 1
    latest = read_positions(engine, "a", latest=True)
    assert latest["asset"].to_list() == ["A/B"]
    last = [p for p in events if isinstance(p, Position)][-1]
    assert Decimal(str(latest["quantity"][0])) == last.quantity


def test_manual_actions_are_stored_with_their_outcome(events: list) -> None:
    engine = open_store("sqlite://")
    counts = write_records(engine, events, run_id="r1")
    assert counts["ManualActionResult"] == 1
    [result] = [e for e in events if isinstance(e, ManualActionResult)]
    frame = read_table(engine, manual_actions, "r1")
    assert frame.select("action_id", "kind", "applied").row(0) == ("m1", "set_trading_state", True)
    assert result.applied


def test_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError, match="no trading table for str"):
        write_records(open_store("sqlite://"), ["x"], run_id="r")
