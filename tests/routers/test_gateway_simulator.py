"""The exchange router end to end: ccxt against the simulator's matching engine, with faults.

Each test drives a real :class:`VenueGateway` (ccxt.pro, signed REST, the user-data WebSocket)
on loopback and books what it reports with the :class:`LiveRouter`; the simulator's own order
book is the ground truth (placements, executed quantities).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connectors.simulator import ExchangeSimulator
from schemas.common import Side
from schemas.trading import Fill, Order, OrderStatus
from schemas.venue import IssueKind, ReconcileIssue, ReportKind, VenueCommand

from .conftest import VENUE, Reports, live_router, place, wait_for


def _venue_order(sim: ExchangeSimulator, client_id: str):
    return sim.trading.engine.find("simulator", "BTCUSDT", order_id=None, client_id=client_id)


def _book(router, reports):
    events = []
    for report in reports:
        events.extend(router.on_report(report))
    return events


def _submit(router, order_id: str, quantity: str) -> Order:
    now = datetime.now(UTC)
    order = Order(
        order_id=order_id,
        intent_id=order_id,
        asset="BTC/USDT",
        side=Side.BUY,
        quantity=Decimal(quantity),
        created_at=now,
        updated_at=now,
    )
    from operators.execution.router import MarketBar

    router.on_bar(MarketBar("BTC/USDT", 0, 60_000_000_000, 1.0, 1.0, 1.0, 39_000.0, 1e9))
    (submitted,) = router.submit(order, 60_000_000_000)
    assert submitted.status is OrderStatus.NEW
    return order


def _booked(events) -> Decimal:
    return sum((e.quantity for e in events if isinstance(e, Fill)), Decimal(0))


def test_market_order_fills_are_booked_once_whatever_path_reports_them(
    sim: ExchangeSimulator, make_gateway
) -> None:
    gateway = make_gateway()
    router = live_router(gateway)
    reports = Reports(gateway)
    _submit(router, "ord-m1", "0.05")
    venue = wait_for(lambda: _venue_order(sim, "ord-m1"), "the order at the venue")
    wait_for(lambda: venue.status in ("FILLED", "EXPIRED"), "the market order to finish")
    reports.wait(
        lambda rs: (
            sum(r.quantity for r in rs if r.kind is ReportKind.FILL and r.source == "rest")
            >= venue.executed
        ),
        "the REST answer's fills",
    )
    reports.wait(  # and the user-data stream's, stamped with the venue's time
        lambda rs: any(r.kind is ReportKind.FILL and r.source == "stream" for r in rs),
        "the stream's fills",
    )
    gateway.send(VenueCommand.model_validate({**place("ord-m1", "0.05").model_dump()}))
    events = _book(router, reports.poll())
    assert sim.trading.engine.placements == 1  # the resent command was the same order
    assert _booked(events) == venue.executed > 0
    fills = [e for e in events if isinstance(e, Fill)]
    assert {f.fill_id for f in fills} == {f"{VENUE}:{f.trade_id}" for f in venue.fills}
    assert sum(f.fee for f in fills) == sum(f.commission for f in venue.fills)
    # the same reports again (a reconnect's replay) book nothing
    assert _booked(_book(router, list(reports.items))) == 0


def test_timeout_after_accept_is_looked_up_by_client_id_not_placed_twice(
    sim: ExchangeSimulator, make_gateway
) -> None:
    gateway = make_gateway(timeout_ms=800)
    router = live_router(gateway)
    reports = Reports(gateway)
    sim.trading.faults.timeout_after_accept(1, seconds=3.0)
    _submit(router, "ord-t1", "0.01")
    wait_for(lambda: gateway.stats.found_by_lookup == 1, "the lookup after the timeout")
    venue = _venue_order(sim, "ord-t1")
    reports.wait(
        lambda rs: sum(r.quantity for r in rs if r.kind is ReportKind.FILL) >= venue.executed,
        "the looked-up order's fills",
    )
    events = _book(router, reports.poll())
    assert sim.trading.engine.placements == 1
    assert gateway.stats.place_attempts == 1
    assert _booked(events) == venue.executed > 0


def test_rate_limit_waits_and_sends_the_same_order_again(
    sim: ExchangeSimulator, make_gateway
) -> None:
    gateway = make_gateway()
    router = live_router(gateway)
    reports = Reports(gateway)
    sim.faults.fail_rest(2, status=429, retry_after=0, path="/api/v3/order")
    _submit(router, "ord-r1", "0.01")
    reports.wait(lambda rs: any(r.kind is ReportKind.STATUS for r in rs), "the order's state")
    assert gateway.stats.rate_limited == 2 and gateway.stats.placed == 1
    assert sim.trading.engine.placements == 1
    assert sim.rest.stats.count("/api/v3/order", 429) == 2


def test_venue_refusal_becomes_a_rejected_order_with_the_venues_reason(
    sim: ExchangeSimulator, make_gateway
) -> None:
    gateway = make_gateway()
    router = live_router(gateway)
    reports = Reports(gateway)
    sim.trading.faults.reject_next(1)
    _submit(router, "ord-x1", "0.01")
    reports.wait(lambda rs: any(r.kind is ReportKind.REJECT for r in rs), "the refusal")
    (update,) = _book(router, reports.poll())
    assert update.status is OrderStatus.REJECTED
    assert update.reason == (  # ccxt's class for Binance's -2010, and Binance's message
        "venue rejected: InsufficientFunds: binance Account has insufficient balance for "
        "requested action."
    )
    assert router.working_orders() == []


def test_bad_secret_is_refused_with_binances_error(make_gateway) -> None:
    with pytest.raises(RuntimeError, match="Signature for this request is not valid"):
        make_gateway(secret="not-the-secret")


def test_fill_while_the_user_stream_is_down_is_booked_once_after_the_reconnect(
    sim: ExchangeSimulator, make_gateway
) -> None:
    gateway = make_gateway()
    router = live_router(gateway)
    reports = Reports(gateway)
    book = sim.trading.liquidity.book("BTCUSDT", sim.now_ms())
    assert book is not None
    below = str((book.bid * Decimal("0.9995")).quantize(Decimal("0.01")))  # rests, then fills
    now = datetime.now(UTC)
    order = Order(
        order_id="ord-l1",
        intent_id="i",
        asset="BTC/USDT",
        side=Side.BUY,
        quantity=Decimal("0.02"),
        order_type="limit",
        limit_price=Decimal(below),
        created_at=now,
        updated_at=now,
    )
    router.submit(order, 60_000_000_000)
    venue = wait_for(lambda: _venue_order(sim, "ord-l1"), "the resting order")
    assert venue.status == "NEW"
    wait_for(lambda: sim.user_streams.connections > 0, "the user stream")
    sim.drop_user_streams()
    for _ in range(240):  # the tape trades through the limit while the stream is down
        sim.advance(1_000)
        if venue.executed > 0:
            break
    assert venue.executed > 0
    wait_for(lambda: gateway.stats.reconciliations >= 2, "the reconnect's reconciliation")
    reports.wait(
        lambda rs: sum(r.quantity for r in rs if r.kind is ReportKind.FILL) >= venue.executed,
        "the missed fills",
    )
    assert gateway.stats.stream_disconnects >= 1
    events = _book(router, reports.poll())
    assert _booked(events) == venue.executed
    assert any(r.source == "reconcile" for r in reports.items if r.kind is ReportKind.FILL)


def test_unknown_open_order_is_reported_and_cancelled_by_configuration(
    sim: ExchangeSimulator, make_gateway
) -> None:
    book = sim.trading.liquidity.book("BTCUSDT", sim.now_ms())
    assert book is not None
    stray = sim.trading.engine.place(
        "simulator",
        "BTCUSDT",
        "BTC",
        "USDT",
        side="BUY",
        kind="LIMIT",
        quantity=Decimal("0.01"),
        price=(book.bid * Decimal("0.9")).quantize(Decimal("0.01")),
        time_in_force="GTC",
        client_id="placed-by-hand",
        now_ms=sim.now_ms(),
    )
    gateway = make_gateway()  # reconciles on start
    router = live_router(gateway, cancel_unknown_orders=True)
    _book(router, gateway.drain())
    issues = [r for r in router.records() if isinstance(r, ReconcileIssue)]
    assert [(i.kind, i.order_id, i.action) for i in issues] == [
        (IssueKind.UNKNOWN_ORDER, "placed-by-hand", "cancelled")
    ]
    wait_for(lambda: stray.status == "CANCELED", "the stray order's cancel")


def test_a_fill_the_ledger_never_booked_shows_as_a_balance_difference(
    sim: ExchangeSimulator, make_gateway
) -> None:
    gateway = make_gateway(reconcile_every_seconds=0.3)
    router = live_router(gateway)
    _submit(router, "ord-b1", "0.01")
    venue = wait_for(lambda: _venue_order(sim, "ord-b1"), "our order at the venue")
    Reports(gateway).wait(lambda rs: _book(router, rs) is not None and venue.executed > 0, "fill")
    before = gateway.stats.reconciliations
    sim.trading.engine.place(  # someone trades on the same account by hand
        "simulator",
        "BTCUSDT",
        "BTC",
        "USDT",
        side="BUY",
        kind="MARKET",
        quantity=Decimal("0.002"),
        client_id="by-hand",
        now_ms=sim.now_ms(),
    )
    wait_for(lambda: gateway.stats.reconciliations >= before + 2, "two reconciliations", 60.0)
    _book(router, gateway.drain())
    issues = [r for r in router.records() if isinstance(r, ReconcileIssue)]
    kinds = {(i.kind, i.order_id) for i in issues}
    assert (IssueKind.UNKNOWN_ORDER, "by-hand") in kinds
    balances = {i.detail.split()[0]: i for i in issues if i.kind is IssueKind.BALANCE}
    assert set(balances) == {"BTC", "USDT"}  # the base asset and the quote paid for it
    assert balances["BTC"].detail.endswith("(difference 0.002)")
    by_hand = _venue_order(sim, "by-hand")
    spent = by_hand.cum_quote + sum(f.commission for f in by_hand.fills)
    difference = balances["USDT"].detail.rsplit("(difference ", 1)[1].rstrip(")")
    assert Decimal(difference) == -spent
