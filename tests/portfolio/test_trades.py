"""Round trips rebuilt from fills, checked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from operators.portfolio.trades import round_trips
from schemas.common import Side
from schemas.trading import Fill

T0 = datetime(2022, 1, 1, tzinfo=UTC)
D = Decimal


def fill(i: int, side: Side, qty: str, price: str, fee: str, asset: str = "A/B") -> Fill:
    return Fill(
        fill_id=f"f{i}",
        order_id=f"o{i}",
        asset=asset,
        side=side,
        quantity=D(qty),
        price=D(price),
        fee=D(fee),
        ts=T0 + timedelta(minutes=i),
    )


def test_scale_in_scale_out() -> None:
    [trip] = round_trips(
        [
            fill(1, Side.BUY, "1", "100", "0.1"),
            fill(2, Side.BUY, "1", "110", "0.11"),
            fill(3, Side.SELL, "1.5", "120", "0.18"),
            fill(4, Side.SELL, "0.5", "90", "0.045"),
        ]
    )
    # average 105; +15 × 1.5 = 22.5; -15 × 0.5 = -7.5
    assert trip.gross_pnl == D("15.0") and trip.fees == D("0.435")
    assert trip.net_pnl == D("14.565") and trip.closed and trip.direction == 1
    assert trip.entry_price == D(105) and trip.exit_price == D("112.5")
    assert trip.max_quantity == D(2) and trip.order_ids == ["o1", "o2", "o3", "o4"]
    assert trip.opened_at == T0 + timedelta(minutes=1)
    assert trip.closed_at == T0 + timedelta(minutes=4)


def test_a_fill_through_zero_splits_its_fee() -> None:
    first, second = round_trips(
        [fill(1, Side.BUY, "1", "100", "0.1"), fill(2, Side.SELL, "3", "90", "0.27")]
    )
    assert first.closed and first.gross_pnl == D(-10) and first.fees == D("0.19")
    assert not second.closed and second.direction == -1
    assert second.entry_price == D(90) and second.fees == D("0.18")
    assert second.entry_order_id == "o2"


def test_assets_are_independent() -> None:
    trips = round_trips(
        [
            fill(1, Side.BUY, "1", "10", "0", "A/B"),
            fill(2, Side.SELL, "2", "5", "0", "C/D"),
            fill(3, Side.SELL, "1", "12", "0", "A/B"),
            fill(4, Side.BUY, "2", "4", "0", "C/D"),
        ]
    )
    assert [(t.asset, t.gross_pnl) for t in trips] == [("A/B", D(2)), ("C/D", D(2))]
