"""Smart order routing over two venues, TWAP children per slice, and the divergence guard."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from operators.divergence import DataQualityEvent
from operators.execution import TradingConfig, TradingEngine
from operators.execution.config import ExecutionConfig
from operators.execution.dispatch import register_dispatcher, unregister_dispatcher
from operators.execution.live import LiveRouter
from operators.execution.live_config import LiveConfig
from operators.execution.router import MarketBar
from operators.execution.smart_routing import VenueQuote, route
from operators.portfolio.instruments import Instruments
from schemas.common import Side, ns_to_datetime
from schemas.market import BookTop
from schemas.trading import ExecAlgo, Order, OrderStatus, RiskDecision, RiskReason
from schemas.venue import ReportKind, RouteDecision, VenueCommand, VenueReport

from .conftest import open_decision_inputs

T0 = 1_641_000_000_000_000_000 // 60_000_000_000 * 60_000_000_000
MIN = 60_000_000_000
D = Decimal


def quote(venue: str, ask: str, size: str, fee: str, latency: float) -> VenueQuote:
    return VenueQuote(venue, D(ask) - 1, D(size), D(ask), D(size), D(fee), latency)


def test_all_in_price_ranks_venues_and_depth_splits() -> None:
    quotes = {
        "cheap_quote_dear_fee": quote("cheap_quote_dear_fee", "100.00", "2", "10", 1),
        "dear_quote_cheap_fee": quote("dear_quote_cheap_fee", "100.05", "2", "1", 1),
    }
    plan = route("buy", D(1), quotes, latency_bps_per_ms=D(0), fallback="x")
    assert plan.allocations == {"dear_quote_cheap_fee": D(1)}  # 100.06 < 100.10 all in
    split = route("buy", D(3), quotes, latency_bps_per_ms=D(0), fallback="x")
    assert split.allocations == {"dear_quote_cheap_fee": D(2), "cheap_quote_dear_fee": D(1)}
    slow = {
        **quotes,
        "dear_quote_cheap_fee": quote("dear_quote_cheap_fee", "100.05", "2", "1", 500),
    }
    assert list(
        route("buy", D(1), slow, latency_bps_per_ms=D("0.1"), fallback="x").allocations
    ) == ["cheap_quote_dear_fee"]
    # a sell takes the best bid net of costs
    sell = route("sell", D(1), quotes, latency_bps_per_ms=D(0), fallback="x")
    assert sell.allocations == {"dear_quote_cheap_fee": D(1)}
    assert route("buy", D(1), {}, latency_bps_per_ms=D(0), fallback="x").allocations == {"x": 1}


@pytest.fixture
def sent() -> Any:
    commands: list[VenueCommand] = []
    for venue in ("va", "vb"):
        register_dispatcher(venue, commands.append)
    yield commands
    for venue in ("va", "vb"):
        unregister_dispatcher(venue)


def two_venue_router(**execution: Any) -> LiveRouter:
    config = LiveConfig(
        venue="va",
        venues=[
            {"name": "va", "fee_bps": 10, "latency_ms": 5},
            {"name": "vb", "fee_bps": 2, "latency_ms": 5},
        ],
        max_order_notional=D(10**9),
        max_daily_notional=D(10**9),
    )
    r = LiveRouter(config, ExecutionConfig(**execution), Instruments())
    r.on_bar(MarketBar("A/B", T0 - MIN, T0, 100.0, 100.0, 100.0, 100.0, 1e6))
    for venue, ask in (("va", 100.0), ("vb", 100.02)):
        r.on_quote(
            BookTop(
                symbol="A/B",
                ts=ns_to_datetime(T0),
                bid=ask - 0.1,
                ask=ask,
                bid_size=3.0,
                ask_size=3.0,
                source=venue,
            )
        )
    return r


def order(quantity: str, algo: ExecAlgo = ExecAlgo.IMMEDIATE) -> Order:
    return Order(
        order_id="p1",
        intent_id="p1",
        asset="A/B",
        side=Side.BUY,
        quantity=D(quantity),
        algo=algo,
        created_at=ns_to_datetime(T0),
        updated_at=ns_to_datetime(T0),
    )


def report(command: VenueCommand, trade: str, kind: ReportKind = ReportKind.FILL) -> VenueReport:
    return VenueReport(
        venue=command.venue,
        kind=kind,
        order_id=command.order_id,
        trade_id=trade,
        price=D("100.01"),
        quantity=command.quantity,
        fee=D("0.01"),
        ts=datetime(2022, 1, 1, tzinfo=UTC),
    )


def test_an_order_is_split_over_two_venues_and_booked_as_one(sent: list[VenueCommand]) -> None:
    r = two_venue_router()
    r.submit(order("5"), T0)
    assert [(c.venue, c.quantity) for c in sent] == [("vb", D(3)), ("va", D(2))]
    (decision,) = [x for x in r.records() if isinstance(x, RouteDecision)]
    assert decision.allocations == {"vb": D(3), "va": D(2)} and "split over 2" in decision.reason
    assert set(decision.inputs) == {"va", "vb"} and decision.inputs["vb"]["fee_bps"] == "2"
    events = [e for c in sent for e in r.on_report(report(c, "1"))]  # same trade id, 2 venues
    parent = [e for e in events if isinstance(e, Order)][-1]
    assert parent.order_id == "p1" and parent.status is OrderStatus.FILLED
    assert parent.filled_quantity == D(5)


def test_twap_sends_one_child_per_bar(sent: list[VenueCommand]) -> None:
    r = two_venue_router(twap_slices=5)
    r.submit(order("5", ExecAlgo.TWAP), T0)
    assert sent == []  # nothing before the first bar after the order
    for k in range(5):
        r.on_bar(MarketBar("A/B", T0 + k * MIN, T0 + (k + 1) * MIN, 100, 100, 100, 100, 1e6))
    assert sum(c.quantity for c in sent) == D(5) and len({c.order_id for c in sent}) == 5
    assert all(c.quantity == D(1) for c in sent)
    expired = report(sent[0], "x", ReportKind.STATUS).model_copy(
        update={"status": OrderStatus.CANCELLED}
    )
    assert r.on_report(expired) == []  # a slice ending unfilled does not end the order


def test_venues_disagreeing_block_new_entries() -> None:
    engine = TradingEngine(TradingConfig(), atr={"BTC/USDT": 1.0})
    candles, signal, progress, minutes = open_decision_inputs()
    disagree = DataQualityEvent(
        kind="price_divergence",
        symbol="BTC/USDT",
        ts=ns_to_datetime(int(minutes[1])),
        sources=("binance", "ccxt:kraken"),
        prices=(100.0, 101.0),
        divergence_bps=99.5,
        threshold_bps=50,
        blocks_entries=True,
        detail="binance and ccxt:kraken differ by 99.5 bps",
    )
    events = engine.process([disagree, candles, signal, progress])
    (refusal,) = [e for e in events if isinstance(e, RiskDecision)]
    assert refusal.reason is RiskReason.DATA_QUALITY and "99.5 bps" in refusal.detail
