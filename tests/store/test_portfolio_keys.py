"""Trading tables keyed by portfolio, on SQLite and PostgreSQL: two portfolios' records with
the same natural key live side by side, rewriting them changes nothing, reads filter by one."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine

from connectors.store.trading import load_records, read_equity, write_records
from operators.portfolio.book import EquityPoint
from schemas.trading import Position


def _point(portfolio: str, equity: str) -> EquityPoint:
    return EquityPoint(
        ts=datetime(2022, 1, 1, tzinfo=UTC),
        equity=Decimal(equity),
        cash=Decimal(equity),
        realized_pnl=Decimal(0),
        unrealized_pnl=Decimal(0),
        fees_paid=Decimal(0),
        gross_exposure=Decimal(0),
        net_exposure=Decimal(0),
        open_positions=0,
        drawdown_pct=0.0,
        portfolio=portfolio,
    )


def _position(portfolio: str, quantity: str) -> Position:
    return Position(
        asset="BTC/USDT",
        quantity=Decimal(quantity),
        average_price=Decimal(100),
        updated_at=datetime(2022, 1, 1, tzinfo=UTC),
        portfolio=portfolio,
    )


def test_two_portfolios_share_natural_keys_idempotently(store: Engine) -> None:
    records = [_point("a", "10"), _point("b", "4"), _position("a", "1"), _position("b", "-2")]
    assert write_records(store, records, run_id="r") == {"EquityPoint": 2, "Position": 2}
    write_records(store, records, run_id="r")  # a replay after a crash writes nothing twice
    assert sorted(p.portfolio for p in load_records(store, EquityPoint, run_id="r")) == ["a", "b"]
    assert load_records(store, Position, run_id="r", portfolio="b") == [records[3]]
    assert read_equity(store, run_id="r", portfolio="a")["equity"].to_list() == [10.0]
