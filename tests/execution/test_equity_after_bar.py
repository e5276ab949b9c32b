"""The equity the breakers see after a bar is reused only while it cannot have moved: whatever
the sequence of marks and fills, it equals the book's equity computed afresh."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from operators.execution.engine import TradingEngine
from operators.execution.trading_config import TradingConfig
from schemas.common import Side, ns_to_datetime
from schemas.trading import Fill

ASSETS = ("A/USDT", "B/USDT")
PRICES = st.decimals(min_value=Decimal("1"), max_value=Decimal("200"), places=1)
MARK = st.tuples(st.just("mark"), st.sampled_from(ASSETS), PRICES)
FILL = st.tuples(
    st.just("fill"),
    st.sampled_from(ASSETS),
    PRICES,
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 3),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(MARK, FILL), max_size=30))
def test_the_equity_after_a_bar_is_the_books_equity(steps: list[tuple]) -> None:
    engine = TradingEngine(TradingConfig())
    for n, (kind, asset, price, *fill) in enumerate(steps):
        if kind == "fill":
            side, quantity = fill
            engine.book.apply_fill(
                Fill(
                    fill_id=f"f{n}",
                    order_id=f"o{n}",
                    asset=asset,
                    side=side,
                    quantity=Decimal(quantity),
                    price=price,
                    fee=Decimal("0.01"),
                    ts=ns_to_datetime(n),
                )
            )
        else:  # a bar of ``asset`` closed at ``price``
            engine.book.mark(asset, price)
            assert engine._equity_after_bar(asset) == engine.book.equity()
            assert str(engine._equity_after_bar(asset)) == str(engine.book.equity())
