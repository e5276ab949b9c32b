"""Property: no order is ever filled twice across retries, reconnects and a kill -9.

The real gateway code (placement, lookup by client id, reconciliation) and the real live router
run against an in-process venue: a ccxt-shaped facade over the simulator's matching engine whose
answers hypothesis breaks at will — a request lost before the venue, an answer lost after the
venue accepted (timeout), a 429, a failing lookup. A "kill -9 between send and acknowledgement"
throws away the router's state since its last snapshot and the gateway's memory, then replays
the order the way a resumed flow does. Reports are delivered twice (stream and reconciliation).
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.ccxt_router import VenueConfig, VenueCredentials, VenueGateway
from connectors.simulator.matching import Book, MatchingConfig, MatchingEngine, OrderError, SimOrder
from operators.execution.config import ExecutionConfig
from operators.execution.dispatch import register_dispatcher, unregister_dispatcher
from operators.execution.live import LiveRouter
from operators.execution.live_config import LiveConfig
from operators.execution.router import MarketBar
from operators.portfolio.instruments import Instruments
from schemas.common import Side
from schemas.trading import Fill, Order

VENUE = "prop-venue"
FAULTS = ("ok", "lost", "timeout_after_accept", "429", "lookup_fails")
_STATUS = {"NEW": "open", "PARTIALLY_FILLED": "open", "FILLED": "closed"}


def _trade(order: SimOrder, fill: Any) -> dict[str, Any]:
    return {
        "id": str(fill.trade_id),
        "order": str(order.order_id),
        "symbol": "BTC/USDT",
        "price": float(fill.price),
        "amount": float(fill.quantity),
        "fee": {"cost": float(fill.commission), "currency": "USDT"},
        "takerOrMaker": "maker" if fill.maker else "taker",
    }


def _order(order: SimOrder, with_trades: bool) -> dict[str, Any]:
    return {
        "id": str(order.order_id),
        "clientOrderId": order.client_id,
        "symbol": "BTC/USDT",
        "status": _STATUS.get(order.status, order.status.lower()),
        "filled": float(order.executed),
        "trades": [_trade(order, f) for f in order.fills] if with_trades else [],
    }


class FlakyVenue:
    """The subset of ccxt's unified API the gateway uses, over a matching engine."""

    def __init__(self, engine: MatchingEngine, faults: Iterator[str]) -> None:
        self.engine = engine
        self.faults = faults
        self.last_response_headers: dict[str, str] = {"Retry-After": "0"}

    def _fault(self) -> str:
        return next(self.faults, "ok")

    async def create_order(
        self, symbol: str, kind: str, side: str, amount: float, price: Any, params: dict
    ) -> dict[str, Any]:
        fault = self._fault()
        if fault == "lost":
            raise ccxt.RequestTimeout("request lost before the venue")
        if fault == "429":
            raise ccxt.RateLimitExceeded('binance {"code":-1003,"msg":"Too many requests"}')
        try:
            order = self.engine.place(
                "k",
                "BTCUSDT",
                "BTC",
                "USDT",
                side=side.upper(),
                kind=kind.upper(),
                quantity=Decimal(str(amount)),
                client_id=params["newClientOrderId"],
                now_ms=1,
            )
        except OrderError as exc:
            body = f'binance {{"code":{exc.code},"msg":"{exc.msg}"}}'
            raise ccxt.InvalidOrder(body) from None
        if fault == "timeout_after_accept":
            raise ccxt.RequestTimeout("answer lost after the venue accepted")
        return _order(order, with_trades=True)

    async def fetch_order(self, order_id: Any, symbol: str, params: dict | None = None) -> dict:
        if self._fault() == "lookup_fails":
            raise ccxt.NetworkError("connection reset")
        client_id = (params or {}).get("origClientOrderId")
        found = self.engine.find(
            "k", "BTCUSDT", order_id=int(order_id) if order_id else None, client_id=client_id
        )
        if found is None:
            raise ccxt.OrderNotFound('binance {"code":-2013,"msg":"Order does not exist."}')
        return _order(found, with_trades=False)

    async def fetch_my_trades(
        self, symbol: str, since: Any = None, limit: Any = None, params: dict | None = None
    ) -> list[dict[str, Any]]:
        wanted = (params or {}).get("orderId")
        return [
            _trade(o, f)
            for o, f in self.engine.trades("k", "BTCUSDT")
            if wanted is None or str(o.order_id) == str(wanted)
        ]

    async def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return [_order(o, with_trades=False) for o in self.engine.open_orders("k")]

    async def fetch_balance(self) -> dict[str, Any]:
        return {"total": {a: float(v) for a, v in self.engine.balances["k"].items()}}

    async def fetch_time(self) -> int:
        return 10_000


def _gateway(venue: FlakyVenue) -> VenueGateway:
    config = VenueConfig(name=VENUE, retry_wait_seconds=0.0001, place_attempts=4)
    creds = VenueCredentials(venue=VENUE, api_key="k", secret="s")
    gateway = VenueGateway(config, creds, ("BTC/USDT",), exchange_factory=lambda: venue)
    gateway.exchange = venue
    return gateway


orders = st.lists(st.integers(1, 20), min_size=1, max_size=4)  # tenths of a BTC
faults = st.lists(st.sampled_from(FAULTS), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quantities=orders, fault_plan=faults, crashes=st.lists(st.booleans(), min_size=4))
def test_no_order_is_ever_filled_twice(
    quantities: list[int], fault_plan: list[str], crashes: list[bool]
) -> None:
    book = Book(Decimal("100"), Decimal("0.5"), Decimal("100.1"), Decimal("0.5"))
    engine = MatchingEngine(
        MatchingConfig(depth_levels=5),
        lambda symbol, now: book,
        {"k": {"USDT": Decimal(10_000_000), "BTC": Decimal(1000)}},
    )
    venue = FlakyVenue(engine, iter(fault_plan))
    sent: list[Any] = []
    register_dispatcher(VENUE, sent.append)
    try:
        asyncio.run(_scenario(engine, venue, sent, quantities, crashes))
    finally:
        unregister_dispatcher(VENUE)


async def _scenario(
    engine: MatchingEngine,
    venue: FlakyVenue,
    sent: list[Any],
    quantities: list[int],
    crashes: list[bool],
) -> None:
    router = LiveRouter(LiveConfig(venue=VENUE), ExecutionConfig(), Instruments())
    router.on_bar(MarketBar("BTC/USDT", 0, 60_000_000_000, 100.0, 100.0, 100.0, 100.0, 1e9))
    gateway = _gateway(venue)
    booked: dict[str, Decimal] = {}

    def book_reports(reports: list[Any]) -> None:
        for report in reports + reports:  # every report arrives twice
            for event in router.on_report(report):
                if isinstance(event, Fill):
                    booked[event.order_id] = booked.get(event.order_id, Decimal(0)) + event.quantity

    now = datetime(2022, 1, 1, tzinfo=UTC)
    for i, tenths in enumerate(quantities):
        order = Order(
            order_id=f"ord-{i}",
            intent_id=f"i-{i}",
            asset="BTC/USDT",
            side=Side.BUY,
            quantity=Decimal(tenths) / 10,
            created_at=now,
            updated_at=now,
        )
        snapshot = pickle.dumps(router)
        router.submit(order, 60_000_000_000)
        await gateway._run_command(sent[-1])
        if crashes[i % len(crashes)]:  # kill -9 before the acknowledgement was processed
            gateway.drain()  # lost with the process
            router = pickle.loads(snapshot)
            booked = {k: v for k, v in booked.items() if k in router.known_order_ids()}
            gateway = _gateway(venue)  # a new process: no memory of venue ids
            router.submit(order, 60_000_000_000)  # the resumed flow replays the submission
            await gateway._run_command(sent[-1])
        book_reports(gateway.drain())
    venue.faults = iter(())  # the network heals: the next reconciliation sees everything
    await gateway.reconcile("final")
    book_reports(gateway.drain())

    assert engine.placements == len({o.client_id for o in engine.orders.values()})
    for i, tenths in enumerate(quantities):
        at_venue = engine.find("k", "BTCUSDT", order_id=None, client_id=f"ord-{i}")
        executed = at_venue.executed if at_venue is not None else Decimal(0)
        assert executed <= Decimal(tenths) / 10
        assert booked.get(f"ord-{i}", Decimal(0)) == executed, f"ord-{i}"
