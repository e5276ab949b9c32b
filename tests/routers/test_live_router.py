"""The live router as flow state: caps, dry run, cancels, venue reports, pickling, and the
trading core running on it (a kill switch cancels at the venue)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from operators.execution import TradingConfig, TradingEngine
from operators.execution.config import ExecutionConfig
from operators.execution.dispatch import register_dispatcher, unregister_dispatcher
from operators.execution.live import LiveRouter
from operators.execution.live_config import LiveConfig
from operators.execution.records import ManualAction, ManualActionKind
from operators.execution.router import MarketBar
from operators.portfolio.instruments import Instruments
from schemas.common import Side, ns_to_datetime
from schemas.trading import Fill, Order, OrderStatus, TradingState
from schemas.venue import (
    CommandKind,
    ExecutionComparison,
    ReportKind,
    VenueCommand,
    VenueReport,
)

from .conftest import open_decision_inputs

VENUE = "unit-venue"
T0 = 1_641_000_000_000_000_000 // 60_000_000_000 * 60_000_000_000
MIN = 60_000_000_000
NOW = datetime(2022, 1, 1, tzinfo=UTC)


@pytest.fixture
def sent() -> Any:
    commands: list[VenueCommand] = []
    register_dispatcher(VENUE, commands.append)
    yield commands
    unregister_dispatcher(VENUE)


def router(**live: Any) -> LiveRouter:
    r = LiveRouter(LiveConfig(**({"venue": VENUE} | live)), ExecutionConfig(), Instruments())
    r.on_bar(MarketBar("A/B", T0 - MIN, T0, 100.0, 100.0, 100.0, 100.0, 1e6))
    return r


def order(order_id: str = "o1", quantity: str = "1", side: Side = Side.BUY) -> Order:
    return Order(
        order_id=order_id,
        intent_id=order_id,
        asset="A/B",
        side=side,
        quantity=Decimal(quantity),
        created_at=ns_to_datetime(T0),
        updated_at=ns_to_datetime(T0),
    )


def fill(order_id: str, trade_id: str, quantity: str, price: str = "100.2") -> VenueReport:
    return VenueReport(
        venue=VENUE,
        kind=ReportKind.FILL,
        order_id=order_id,
        trade_id=trade_id,
        price=Decimal(price),
        quantity=Decimal(quantity),
        fee=Decimal("0.1"),
        ts=NOW,
    )


def test_caps_refuse_entries_before_sending_but_never_exits(sent: list[VenueCommand]) -> None:
    r = router(max_order_notional=Decimal(500), max_daily_notional=Decimal(800))
    (big,) = r.submit(order("big", "6"), T0)
    assert big.status is OrderStatus.REJECTED and "per-order cap 500" in big.reason
    assert r.submit(order("a", "4"), T0)[0].status is OrderStatus.NEW
    (over,) = r.submit(order("b", "4.5"), T0)
    assert over.status is OrderStatus.REJECTED and "daily notional cap 800" in over.reason
    exit_order = order("exit", "6", Side.SELL)
    assert r.submit(exit_order, T0, reduce_only=True)[0].status is OrderStatus.NEW
    assert [c.order_id for c in sent] == ["a", "exit"]
    # a new UTC day starts a new budget
    assert r.submit(order("c", "4"), T0 + 86_400 * 10**9)[0].status is OrderStatus.NEW


def test_without_a_venue_connection_orders_are_rejected_with_the_reason() -> None:
    (rejected,) = router(venue="nowhere").submit(order(), T0)
    assert rejected.reason == "no connection to venue nowhere"


def test_dry_run_records_the_command_and_fills_on_paper(sent: list[VenueCommand]) -> None:
    r = router(dry_run=True)
    assert [e.status for e in r.submit(order(), T0)] == [OrderStatus.NEW]
    (command,) = r.records()
    assert command.dry_run and command.kind is CommandKind.PLACE and sent == []
    events = r.on_bar(MarketBar("A/B", T0, T0 + MIN, 100.0, 101.0, 99.0, 100.0, 1e6))
    assert [type(e).__name__ for e in events] == ["Fill", "Order"]


def test_reports_book_fills_once_and_expiry_keeps_what_filled(sent: list[VenueCommand]) -> None:
    r = router()
    r.submit(order("o1", "1"), T0)
    first = r.on_report(fill("o1", "t1", "0.4"))
    assert [type(e).__name__ for e in first] == ["Fill", "Order"]
    assert first[1].status is OrderStatus.PARTIALLY_FILLED
    assert r.on_report(fill("o1", "t1", "0.4")) == []  # the same trade again
    expired = VenueReport(
        venue=VENUE,
        kind=ReportKind.STATUS,
        order_id="o1",
        status=OrderStatus.CANCELLED,
        reason="expired at the venue (no more liquidity)",
        ts=NOW,
    )
    (update,) = r.on_report(expired)
    assert update.status is OrderStatus.CANCELLED and update.filled_quantity == Decimal("0.4")
    assert update.reason == "expired at the venue (no more liquidity)"
    late = r.on_report(fill("o1", "t2", "0.1"))  # a fill reported after the final state
    assert late[0].quantity == Decimal("0.1") and late[1].status is OrderStatus.CANCELLED
    assert late[1].filled_quantity == Decimal("0.5")
    assert r.working_orders() == []


def test_an_overfill_is_never_booked(sent: list[VenueCommand]) -> None:
    r = router()
    r.submit(order("o1", "1"), T0)
    r.on_report(fill("o1", "t1", "1"))
    assert r.on_report(fill("o1", "t2", "0.5")) == []
    assert "would overfill" in r.records()[-1].detail


def test_cancel_goes_to_the_venue_once(sent: list[VenueCommand]) -> None:
    r = router()
    r.submit(order(), T0)
    (pending,) = r.cancel("o1", T0, "halted")
    assert pending.status is OrderStatus.NEW and pending.reason == "cancel sent: halted"
    r.cancel("o1", T0, "again")
    assert [c.kind for c in sent] == [CommandKind.PLACE, CommandKind.CANCEL]


def test_venue_fill_is_compared_with_the_paper_estimate(sent: list[VenueCommand]) -> None:
    r = router()
    r.submit(order("o1", "1"), T0)
    r.on_report(fill("o1", "t1", "1", price="100.5"))
    r.on_bar(MarketBar("A/B", T0, T0 + MIN, 100.0, 101.0, 99.0, 100.0, 1e6))
    comparison = next(x for x in r.records() if isinstance(x, ExecutionComparison))
    assert comparison.venue_average_price == Decimal("100.5")
    assert comparison.paper_average_price is not None
    expected = float((Decimal("100.5") / comparison.paper_average_price - 1) * 10_000)
    assert comparison.difference_bps == pytest.approx(expected)


def test_the_router_survives_a_pickle_round_trip(sent: list[VenueCommand]) -> None:
    r = router()
    r.submit(order(), T0)
    r.on_report(fill("o1", "t1", "0.4"))
    restored = pickle.loads(pickle.dumps(r))
    assert restored.on_report(fill("o1", "t1", "0.4")) == []
    assert restored.working_orders()[0].filled_quantity == Decimal("0.4")


def test_trading_core_on_the_live_router_books_venue_fills_and_halts_at_the_venue(
    sent: list[VenueCommand],
) -> None:
    config = TradingConfig.model_validate({"mode": "live", "live": {"venue": VENUE}})
    engine = TradingEngine(config, atr={"BTC/USDT": 1.0})
    candles, signal, progress, minutes = open_decision_inputs()
    events = engine.process([candles, signal, progress])
    (command,) = [e for e in events if isinstance(e, VenueCommand)]
    assert command.order_id == "ord:fs-1:entry" and command.kind is CommandKind.PLACE
    report = VenueReport(
        venue=VENUE,
        kind=ReportKind.FILL,
        order_id=command.order_id,
        trade_id="900",
        price=Decimal("100.3"),
        quantity=command.quantity / 2,
        fee=Decimal("0.2"),
        ts=NOW,
    )
    booked = engine.process([report, report])
    assert [type(e).__name__ for e in booked] == ["Fill", "Position", "Order"]
    assert engine.book.quantity("BTC/USDT") == command.quantity / 2
    halt = ManualAction(
        action_id="halt-1",
        kind=ManualActionKind.SET_TRADING_STATE,
        actor="ops",
        ts=ns_to_datetime(int(minutes[3])),
        state=TradingState.HALTED,
    )
    engine.process([halt])
    engine.flush()
    assert sent[-1].kind is CommandKind.CANCEL and sent[-1].order_id == command.order_id
    assert isinstance(booked[0], Fill) and booked[0].fill_id == f"{VENUE}:900"
