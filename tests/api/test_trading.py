"""Portfolio routes: the run shown by default, filters, paging and exact money."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from connectors.store.market import start_run
from connectors.store.trading import write_records
from operators.portfolio.book import EquityPoint
from schemas.trading import Fill, Order, OrderStatus, Position

Headers = Callable[[str], dict[str, str]]
T0 = datetime(2022, 1, 10, tzinfo=UTC)


def _order(i: int, asset: str, status: OrderStatus) -> Order:
    filled = Decimal("0.5") if status is OrderStatus.FILLED else Decimal(0)
    return Order(
        order_id=f"o{i}",
        intent_id=f"i{i}",
        asset=asset,
        side="buy" if i % 2 else "sell",
        quantity=Decimal("0.5"),
        filled_quantity=filled,
        average_price=Decimal("41000.10") if filled else None,
        status=status,
        created_at=T0 + timedelta(minutes=i),
        updated_at=T0 + timedelta(minutes=i, seconds=1),
    )


def _fill(i: int, asset: str) -> Fill:
    return Fill(
        fill_id=f"f{i}",
        order_id=f"o{i}",
        asset=asset,
        side="buy",
        quantity=Decimal("0.25"),
        price=Decimal("41000.123456789"),
        fee=Decimal("0.0041"),
        mid_price=Decimal("41000.1"),
        slippage_bps=0.57,
        ts=T0 + timedelta(minutes=i),
    )


def _position(asset: str, quantity: str, minutes: int) -> Position:
    return Position(
        asset=asset,
        quantity=Decimal(quantity),
        average_price=Decimal("40990.5"),
        realized_pnl=Decimal("12.34"),
        updated_at=T0 + timedelta(minutes=minutes),
    )


def _equity(minutes: int, value: str) -> EquityPoint:
    return EquityPoint(
        ts=T0 + timedelta(minutes=minutes),
        equity=Decimal(value),
        cash=Decimal(value),
        realized_pnl=Decimal(0),
        unrealized_pnl=Decimal(0),
        fees_paid=Decimal("0.01"),
        gross_exposure=Decimal(0),
        net_exposure=Decimal(0),
        exposure={"BTC-PERP": Decimal("-12.5")},
        open_positions=0,
        drawdown_pct=0.0,
    )


@pytest.fixture
def runs(engine: Engine) -> tuple[str, str]:
    """Two backtests: an older one and the latest one, each with trading records."""
    old = start_run(engine, "run", run_id="r-old")
    new = start_run(engine, "run", run_id="r-new")
    write_records(
        engine,
        [_order(1, "ETH-PERP", OrderStatus.FILLED), _fill(1, "ETH-PERP"), _equity(0, "500")],
        run_id=old,
    )
    statuses = [OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.FILLED, OrderStatus.NEW]
    records: list = [_order(i, "BTC-PERP", s) for i, s in enumerate(statuses)]
    records += [_order(9, "ETH-PERP", OrderStatus.FILLED)]
    records += [_fill(i, "BTC-PERP") for i in (0, 2)] + [_fill(9, "ETH-PERP")]
    records += [
        _position("BTC-PERP", "0.5", 1),
        _position("BTC-PERP", "1.0", 3),  # the latest BTC snapshot
        _position("ETH-PERP", "0.5", 2),
        _position("ETH-PERP", "0", 9),  # ETH back to flat
    ]
    records += [_equity(m, v) for m, v in [(0, "1000"), (60, "1010.5"), (120, "1003.25")]]
    write_records(engine, records, run_id=new)
    return old, new


def test_default_run_is_the_latest_started(
    client: TestClient, runs: tuple[str, str], headers: Headers
) -> None:
    body = client.get("/v1/orders", headers=headers("reader")).json()
    assert body["run_id"] == "r-new" and body["total"] == 5
    listed = client.get("/v1/runs", headers=headers("reader")).json()["items"]
    assert [r["run_id"] for r in listed[:2]] == ["r-new", "r-old"]


def test_orders_filters_and_paging(
    client: TestClient, runs: tuple[str, str], headers: Headers
) -> None:
    filled = client.get(
        "/v1/orders", params={"status": "filled", "asset": "BTC-PERP"}, headers=headers("reader")
    ).json()
    assert [o["order_id"] for o in filled["items"]] == ["o0", "o2"]
    assert filled["items"][0]["average_price"] == "41000.10"  # exact decimal text
    page = client.get(
        "/v1/orders", params={"limit": 2, "offset": 2}, headers=headers("reader")
    ).json()
    assert [o["order_id"] for o in page["items"]] == ["o2", "o3"] and page["total"] == 5
    old = client.get("/v1/orders", params={"run_id": "r-old"}, headers=headers("reader")).json()
    assert [o["order_id"] for o in old["items"]] == ["o1"]


def test_fills_keep_exact_prices(
    client: TestClient, runs: tuple[str, str], headers: Headers
) -> None:
    body = client.get("/v1/fills", params={"asset": "BTC-PERP"}, headers=headers("reader")).json()
    assert [f["fill_id"] for f in body["items"]] == ["f0", "f2"]
    assert body["items"][0]["price"] == "41000.123456789"
    assert body["items"][0]["fee"] == "0.0041"


def test_positions_are_the_latest_snapshot_per_asset(
    client: TestClient, runs: tuple[str, str], headers: Headers
) -> None:
    open_only = client.get("/v1/positions", headers=headers("reader")).json()
    assert [(p["asset"], p["quantity"]) for p in open_only["items"]] == [("BTC-PERP", "1.0")]
    everything = client.get(
        "/v1/positions", params={"include_flat": True}, headers=headers("reader")
    ).json()
    assert [(p["asset"], p["quantity"]) for p in everything["items"]] == [
        ("BTC-PERP", "1.0"),
        ("ETH-PERP", "0"),
    ]


def test_equity_curve_and_range(
    client: TestClient, runs: tuple[str, str], headers: Headers
) -> None:
    body = client.get("/v1/equity", headers=headers("reader")).json()
    assert [p["equity"] for p in body["items"]] == ["1000", "1010.5", "1003.25"]
    assert body["items"][0]["exposure"] == {"BTC-PERP": "-12.5"}
    ranged = client.get(
        "/v1/equity",
        params={"start": "2022-01-10T00:30:00Z", "end": "2022-01-10T02:00:00Z"},
        headers=headers("reader"),
    ).json()
    assert [p["equity"] for p in ranged["items"]] == ["1010.5"]


def test_unknown_run_is_empty_not_an_error(
    client: TestClient, runs: tuple[str, str], headers: Headers
) -> None:
    body = client.get("/v1/fills", params={"run_id": "r-none"}, headers=headers("reader"))
    assert body.status_code == 200 and body.json()["items"] == []


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/orders", {"status": "lost"}, "status"),
        ("/v1/orders", {"offset": -1}, "offset"),
        ("/v1/fills", {"limit": 1001}, "limit"),
        ("/v1/equity", {"end": "not-a-time"}, "end"),
        ("/v1/positions", {"include_flat": "perhaps"}, "include_flat"),
    ],
)
def test_bad_portfolio_queries_are_422(
    client: TestClient, headers: Headers, path: str, params: dict, field: str
) -> None:
    response = client.get(path, params=params, headers=headers("reader"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]
