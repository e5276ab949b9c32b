"""The Alpaca stock router end to end: the official ``alpaca-py`` SDK against the simulator's
Alpaca trading API on loopback (its matching engine), the live router booking what it reports.

Faults: an answer lost after the broker accepted (timeout), a refusal, 429s, the trade-updates
stream cut while an order fills. Market hours: XNYS sessions, held or refused outside them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from connectors.alpaca_router import AlpacaConfig, AlpacaGateway
from connectors.ccxt_router import VenueCredentials
from connectors.simulator import ExchangeSimulator, SimulatorConfig
from operators.candles.calendars import calendar_for
from operators.execution.config import ExecutionConfig
from operators.execution.dispatch import register_dispatcher, unregister_dispatcher
from operators.execution.live import LiveRouter
from operators.execution.live_config import LiveConfig
from operators.execution.router import MarketBar
from operators.portfolio.instruments import Instruments
from schemas.common import Side, ns_to_datetime
from schemas.trading import Fill, Order, OrderStatus, OrderType
from schemas.venue import ReportKind, VenueReport

from .conftest import Reports, place, wait_for

pytestmark = pytest.mark.timeout(180)

VENUE = "alpaca-sim"
SESSION_MS = 1_641_308_400_000  # 2022-01-04 15:00 UTC, a Tuesday: 10:00 in New York
MIN_NS = 60_000_000_000


@pytest.fixture
def sim() -> Iterator[ExchangeSimulator]:
    calendar_for("XNYS")  # built once per process (seconds): before any client timeout runs
    # AAPL priced by the recorded BTC/USDT trades and quotes (no intraday stock data ships)
    config = SimulatorConfig(start_ms=SESSION_MS, ping_interval=None)
    simulator = ExchangeSimulator(config, alpaca_listings={"AAPL": "BTCUSDT"}).start()
    simulator.advance(30_000)
    yield simulator
    simulator.stop()


@pytest.fixture
def make_gateway(sim: ExchangeSimulator) -> Iterator[Callable[..., AlpacaGateway]]:
    started: list[AlpacaGateway] = []

    def make(secret: str = "simulator-secret", **overrides: Any) -> AlpacaGateway:
        settings: dict[str, Any] = {
            "name": VENUE,
            "url_override": sim.rest_url,
            "timeout_seconds": 10.0,
            "retry_wait_seconds": 0.05,
            "reconcile_every_seconds": 3600,
        } | overrides
        creds = VenueCredentials(venue=VENUE, api_key="simulator", secret=secret)
        gateway = AlpacaGateway(AlpacaConfig(**settings), creds, ("AAPL",))
        started.append(gateway)
        return gateway.start()

    yield make
    for gateway in started:
        gateway.stop()
    unregister_dispatcher(VENUE)


def aapl(order_id: str, quantity: str, limit: str | None = None):
    return place(order_id, quantity, limit=limit).model_copy(
        update={"asset": "AAPL", "venue": VENUE}
    )


def router(gateway: AlpacaGateway, **live: Any) -> LiveRouter:
    register_dispatcher(VENUE, gateway.send)
    settings = {"session_calendar": "XNYS", "max_client_order_id": 128} | live
    config = LiveConfig(venue=VENUE, **settings)
    r = LiveRouter(config, ExecutionConfig(), Instruments())
    r.on_bar(bar(SESSION_MS * 1_000_000))
    return r


def bar(close_ns: int, price: float = 40_000.0) -> MarketBar:
    return MarketBar("AAPL", close_ns - MIN_NS, close_ns, price, price, price, price, 1e9)


def entry(order_id: str, quantity: str, at_ns: int) -> Order:
    return Order(
        order_id=order_id,
        intent_id=order_id,
        asset="AAPL",
        side=Side.BUY,
        quantity=Decimal(quantity),
        created_at=ns_to_datetime(at_ns),
        updated_at=ns_to_datetime(at_ns),
    )


def book_all(r: LiveRouter, reports: list[VenueReport]) -> list[Fill]:
    """Every report twice (stream and reconciliation both deliver): the fills booked."""
    return [e for rep in reports + reports for e in r.on_report(rep) if isinstance(e, Fill)]


def test_an_order_through_the_sdk_fills_and_is_booked_once(sim, make_gateway) -> None:
    gateway = make_gateway()
    r = router(gateway)
    (accepted,) = r.submit(entry("stock-1", "0.3", SESSION_MS * 1_000_000), SESSION_MS * 10**6)
    assert accepted.status is OrderStatus.NEW
    reports = Reports(gateway)
    got = reports.wait(
        lambda items: {i.source for i in items if i.kind is ReportKind.FILL} >= {"rest", "stream"},
        "the fill from the REST answer and the trade_updates stream",
    )
    fills = book_all(r, got)
    venue = sim.alpaca.engine.find("simulator", "AAPL", order_id=None, client_id="stock-1")
    assert venue is not None and venue.status == "FILLED"
    assert sum(f.quantity for f in fills) == venue.executed == Decimal("0.3")
    assert len({f.fill_id for f in fills}) == len(fills) == len(venue.fills)
    assert all(f.fill_id.startswith(f"{VENUE}:") for f in fills)
    assert r.working_orders() == []
    # reconciliation reads the position and the cash: the ledger's moves match the broker's
    gateway.send(aapl("stock-2", "0.1"))
    wait_for(lambda: gateway.stats.placed == 2, "the second order")
    book_all(r, reports.poll())
    # the second order is unknown to this router (sent around it): the balance check says so
    gateway.reconcile_now()
    r.on_report(next(x for x in reversed(reports.poll()) if x.kind is ReportKind.BALANCES))
    issues = [x for x in r.records() if type(x).__name__ == "ReconcileIssue"]
    kinds = {i.kind.value for i in issues}
    assert "unknown_order" in kinds and "balance" in kinds
    assert any("AAPL at the venue moved 0.4" in i.detail for i in issues)


def test_an_answer_lost_after_acceptance_is_looked_up_never_resent(sim, make_gateway) -> None:
    gateway = make_gateway(timeout_seconds=0.5)
    sim.alpaca.faults.timeout_after_accept(1, seconds=3.0)
    gateway.send(aapl("lost-answer", "0.2"))
    wait_for(lambda: gateway.stats.lookups, "the lookup after the timeout")
    Reports(gateway).wait(
        lambda items: any(i.kind is ReportKind.FILL and i.source == "rest" for i in items),
        "the looked-up order's fills",
    )
    assert gateway.stats.found_by_lookup == 1 and gateway.stats.placed == 0
    assert sim.alpaca.engine.placements == 1


def test_a_refusal_and_rate_limits_become_reports(sim, make_gateway) -> None:
    gateway = make_gateway(rate_limit_retries=1)
    r = router(gateway)
    sim.alpaca.faults.reject_next(1)
    now = SESSION_MS * 10**6
    r.submit(entry("refused", "0.1", now), now)
    reports = Reports(gateway)
    got = reports.wait(
        lambda items: [i for i in items if i.kind is ReportKind.REJECT], "the refusal"
    )
    (reject,) = [i for i in got if i.kind is ReportKind.REJECT]
    (order,) = r.on_report(reject)
    assert order.status is OrderStatus.REJECTED
    assert order.reason == "venue rejected: HTTP 403 code 40310000: insufficient buying power"
    sim.alpaca.faults.rate_limit_next(3)  # the SDK resends once, the gateway twice more
    r.submit(entry("limited", "0.1", now), now)
    reports.wait(
        lambda items: any(i.kind is ReportKind.FILL and i.order_id == "limited" for i in items),
        "the order placed after the 429s",
    )
    # attempts: the refused order's one, then two for this one (the SDK resent inside each)
    assert gateway.stats.rate_limited == 3 and gateway.stats.place_attempts == 3
    assert sim.alpaca.engine.placements == 1  # the refused one never reached the engine
    with pytest.raises(RuntimeError, match="HTTP 401 code 40110000: request is not authorized"):
        make_gateway(secret="wrong")


def test_a_fill_while_the_stream_is_down_is_booked_once_after_reconnecting(
    sim, make_gateway
) -> None:
    gateway = make_gateway()
    r = router(gateway)
    book = sim.alpaca.liquidity.book("BTCUSDT", sim.now_ms())
    assert book is not None
    limit = book.ask - book.tick  # rests, then fills on the tape's next print at or below it
    now = SESSION_MS * 10**6
    order = entry("resting", "0.001", now).model_copy(
        update={"order_type": OrderType.LIMIT, "limit_price": limit}
    )
    r.submit(order, now)
    reports = Reports(gateway)
    reports.wait(
        lambda items: any(i.status is OrderStatus.NEW and i.source == "stream" for i in items),
        "the order resting at the broker",
    )
    sim.alpaca.faults.refuse_streams = True
    assert sim.drop_alpaca_streams() == 1
    for _ in range(60):  # the tape prints through the limit while nobody listens
        sim.advance(1_000)
        if not sim.alpaca.engine.open_orders("simulator"):
            break
    resting = sim.alpaca.engine.find("simulator", "AAPL", order_id=None, client_id="resting")
    assert resting is not None and resting.status == "FILLED" and resting.fills[0].maker
    assert not any(i.kind is ReportKind.FILL for i in reports.poll())
    sim.alpaca.faults.refuse_streams = False
    got = reports.wait(
        lambda items: any(i.kind is ReportKind.FILL and i.source == "reconcile" for i in items),
        "the reconnect's reconciliation",
    )
    assert gateway.stats.stream_disconnects >= 1
    fills = book_all(r, got)
    assert [f.quantity for f in fills] == [Decimal("0.001")]
    assert fills[0].price == limit


def test_outside_the_session_orders_are_refused_or_held_until_the_open(sim, make_gateway) -> None:
    saturday = int(np.datetime64("2022-01-08T15:00", "ns").astype(np.int64))
    monday_open = int(np.datetime64("2022-01-10T14:30", "ns").astype(np.int64))
    gateway = make_gateway()
    refusing = router(gateway)
    (refused,) = refusing.submit(entry("weekend", "0.1", saturday), saturday)
    assert refused.status is OrderStatus.REJECTED
    assert refused.reason == "outside XNYS regular hours (next open 2022-01-10T14:30:00Z)"
    holding = router(gateway, outside_session="hold")
    (held,) = holding.submit(entry("held", "0.1", saturday), saturday)
    assert held.status is OrderStatus.NEW and held.reason.startswith("held: outside XNYS")
    assert holding.on_bar(bar(saturday + MIN_NS)) == []  # still the weekend: nothing sent
    (released,) = holding.on_bar(bar(monday_open + MIN_NS))  # the first bar of the session
    assert released.reason == "released at the open"
    reports = Reports(gateway)
    got = reports.wait(
        lambda items: any(i.kind is ReportKind.FILL and i.order_id == "held" for i in items),
        "the held order's fill",
    )
    assert sum(f.quantity for f in book_all(holding, got)) == Decimal("0.1")
    assert sim.alpaca.engine.find("simulator", "AAPL", order_id=None, client_id="weekend") is None


def test_client_order_ids_beyond_the_venue_limit_are_digested_or_refused(sim, make_gateway) -> None:
    gateway = make_gateway()
    r = router(gateway, max_client_order_id=36)
    long_id = "ord:" + "x" * 40 + ":entry"
    now = SESSION_MS * 10**6
    r.submit(entry(long_id, "0.1", now), now)
    reports = Reports(gateway)
    got = reports.wait(
        lambda items: [i for i in items if i.kind is ReportKind.FILL], "the digested order"
    )
    sent = {i.order_id for i in got if i.kind is ReportKind.FILL}
    assert len(next(iter(sent))) == 25 and long_id not in sent
    fills = book_all(r, got)
    assert fills and fills[0].order_id == long_id  # booked on the ledger's own order id
    gateway.send(aapl("y" * 129, "0.1"))
    got = reports.wait(
        lambda items: [i for i in items if i.kind is ReportKind.REJECT], "the refusal"
    )
    (reject,) = [i for i in got if i.kind is ReportKind.REJECT]
    assert reject.reason == "client order id of 129 characters: Alpaca accepts at most 128"


def test_a_cancel_reaches_the_broker_and_ends_the_order(sim, make_gateway) -> None:
    gateway = make_gateway()
    r = router(gateway)
    book = sim.alpaca.liquidity.book("BTCUSDT", sim.now_ms())
    assert book is not None
    now = SESSION_MS * 10**6
    far = (book.bid * Decimal("0.9")).quantize(book.tick)  # rests: nothing prints that low
    r.submit(
        entry("to-cancel", "0.01", now).model_copy(
            update={"order_type": OrderType.LIMIT, "limit_price": far}
        ),
        now,
    )
    reports = Reports(gateway)
    reports.wait(
        lambda items: any(i.order_id == "to-cancel" and i.venue_order_id for i in items),
        "the order resting at the broker",
    )
    (pending,) = r.cancel("to-cancel", now, "halted")
    assert pending.reason == "cancel sent: halted"
    got = reports.wait(
        lambda items: any(i.status is OrderStatus.CANCELLED for i in items), "the cancel"
    )
    updates = [e for rep in got for e in r.on_report(rep) if isinstance(e, Order)]
    assert updates[-1].status is OrderStatus.CANCELLED and r.working_orders() == []
    at_broker = sim.alpaca.engine.find("simulator", "AAPL", order_id=None, client_id="to-cancel")
    assert at_broker is not None and at_broker.status == "CANCELED"
