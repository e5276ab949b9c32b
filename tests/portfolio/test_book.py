"""P&L, average price, cash and equity, checked by hand on small cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.portfolio.book import PortfolioBook
from operators.portfolio.trades import round_trips
from schemas.common import Side, datetime_to_ns
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


def identity_holds(book: PortfolioBook) -> bool:
    """equity = initial + realized + unrealized - fees (exactly, in Decimal)."""
    unrealized = sum((book.unrealized_pnl(a) for a in book.positions), D(0))
    return book.equity() == book.initial_cash + book.realized_pnl() + unrealized - book.fees_paid()


def test_long_add_reduce_flip_and_close_by_hand() -> None:
    book = PortfolioBook(D(10_000))
    book.apply_fill(fill(1, Side.BUY, "1", "100", "0.1"))
    pos = book.apply_fill(fill(2, Side.BUY, "3", "120", "0.36"))
    assert (pos.quantity, pos.average_price) == (D(4), D(115))  # (100 + 360) / 4
    assert book.cash == D("9539.54")
    book.mark("A/B", D(125))
    assert book.unrealized_pnl("A/B") == D(40) and book.equity() == D("10039.54")
    assert identity_holds(book)

    pos = book.apply_fill(fill(3, Side.SELL, "1", "130", "0.13"))
    assert (pos.quantity, pos.average_price, pos.realized_pnl) == (D(3), D(115), D(15))

    pos = book.apply_fill(fill(4, Side.SELL, "5", "110", "0.55"))  # closes 3, opens short 2
    assert pos.realized_pnl == D(0)  # 15 + 3 × (110 - 115)
    assert (pos.quantity, pos.average_price) == (D(-2), D(110))
    assert pos.opened_ns == datetime_to_ns(T0 + timedelta(minutes=4))
    book.mark("A/B", D(100))
    assert book.unrealized_pnl("A/B") == D(20)  # (100 - 110) × -2
    assert book.exposure("A/B") == D(-200) and book.gross_exposure() == D(200)
    assert identity_holds(book)

    pos = book.apply_fill(fill(5, Side.BUY, "2", "105", "0.21"))
    assert (pos.quantity, pos.average_price, pos.realized_pnl) == (D(0), D(0), D(10))
    assert pos.opened_ns is None and book.open_assets() == []
    assert pos.fees_paid == D("1.35")
    assert book.equity() == D(10_000) + D(10) - D("1.35")
    assert identity_holds(book)


def test_position_record_and_equity_point() -> None:
    book = PortfolioBook(D(1_000))
    book.apply_fill(fill(1, Side.BUY, "2", "100", "0.2"))
    book.mark("A/B", D(90))
    now = datetime_to_ns(T0 + timedelta(hours=1))
    record = book.position_record("A/B", now, stop_price=D(95), take_profit=D(110))
    assert (record.quantity, record.unrealized_pnl, record.stop_price) == (D(2), D(-20), D(95))
    assert record.opened_at == T0 + timedelta(minutes=1)
    point = book.equity_point(now)
    assert point.equity == D("979.8") and point.gross_exposure == D(180)
    assert point.exposure == {"A/B": D(180)} and point.open_positions == 1
    assert point.drawdown_pct == pytest.approx(2.02)  # peak is the initial 1 000


def test_equity_point_drawdown_tracks_the_peak() -> None:
    book = PortfolioBook(D(100))
    book.apply_fill(fill(1, Side.BUY, "1", "50", "0"))
    book.mark("A/B", D(70))
    assert book.equity_point(1).drawdown_pct == 0.0  # new peak 120
    book.mark("A/B", D(40))
    assert book.equity_point(2).drawdown_pct == pytest.approx(25.0)  # 90 vs 120


def test_initial_cash_must_be_positive() -> None:
    with pytest.raises(ValueError, match="initial_cash must be positive"):
        PortfolioBook(D(0))


_FILLS = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.decimals(min_value="0.001", max_value="5", places=3),
        st.decimals(min_value="1", max_value="200", places=2),
        st.sampled_from(["A/B", "C/D"]),
    ),
    min_size=1,
    max_size=30,
)


@given(steps=_FILLS, mark=st.decimals(min_value="1", max_value="200", places=2))
@settings(max_examples=200, deadline=None)
def test_accounting_identity_and_round_trips_agree(steps: list, mark: Decimal) -> None:
    book = PortfolioBook(D(100_000))
    fills = []
    for i, (side, qty, price, asset) in enumerate(steps):
        f = fill(
            i, side, str(qty), str(price), str((qty * price / 1000).quantize(D("0.0001"))), asset
        )
        fills.append(f)
        book.apply_fill(f)
    for asset in book.positions:
        book.mark(asset, mark)
    unrealized = sum((book.unrealized_pnl(a) for a in book.positions), D(0))
    expected = book.initial_cash + book.realized_pnl() + unrealized - book.fees_paid()
    assert abs(book.equity() - expected) < D("1e-15")
    trips = round_trips(fills)
    assert abs(sum((t.gross_pnl for t in trips), D(0)) - book.realized_pnl()) < D("1e-15")
    assert abs(sum((t.fees for t in trips), D(0)) - book.fees_paid()) < D("1e-15")
    for asset, position in book.positions.items():
        open_trips = [t for t in trips if t.asset == asset and not t.closed]
        assert len(open_trips) == (1 if position.quantity != 0 else 0)
