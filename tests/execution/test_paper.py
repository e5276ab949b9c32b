"""Paper broker: later bars only, spread and impact, fees, partial fills, slicing, life cycle."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.execution.config import ExecutionConfig
from operators.execution.costs import FeeSchedule, SlippageModel
from operators.execution.paper import PaperBroker
from operators.execution.router import MarketBar
from operators.portfolio.instruments import Instruments, InstrumentSpec
from schemas.common import NS_PER_MINUTE, Side, datetime_to_ns, ns_to_datetime
from schemas.market import BookTop
from schemas.trading import ExecAlgo, Fill, Liquidity, Order, OrderStatus, OrderType

D = Decimal
T0 = 1_641_038_400_000_000_000  # 2022-01-01 12:00 UTC


def config(**changes: object) -> ExecutionConfig:
    base = {
        "fees": FeeSchedule(maker_bps=2, taker_bps=5),
        "slippage": SlippageModel(default_spread_bps=2, impact_bps_at_full_volume=20),
    }
    base.update(changes)
    return ExecutionConfig.model_validate(base)


def broker(**changes: object) -> PaperBroker:
    spec = InstrumentSpec(price_tick=D("0.01"), lot_step=D("0.001"))
    return PaperBroker(config(**changes), Instruments(default=spec))


def order(
    qty: str = "1",
    side: Side = Side.BUY,
    created: int = T0,
    order_id: str = "o1",
    **extra: object,
) -> Order:
    at = ns_to_datetime(created)
    return Order(
        order_id=order_id,
        intent_id=f"i-{order_id}",
        asset="A/B",
        side=side,
        quantity=D(qty),
        created_at=at,
        updated_at=at,
        **extra,
    )


def bar(
    k: int,
    open_: float = 100.0,
    high: float = 101.0,
    low: float = 99.0,
    close: float = 100.5,
    volume: float = 1_000.0,
) -> MarketBar:
    """The k-th minute bar after T0 (k = 0 opens exactly at T0)."""
    start = T0 + k * NS_PER_MINUTE
    return MarketBar("A/B", start, start + NS_PER_MINUTE, open_, high, low, close, volume)


def fills(events: list) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def statuses(events: list) -> list[str]:
    return [e.status.value for e in events if isinstance(e, Order)]


def test_bars_that_opened_before_the_order_never_fill_it() -> None:
    b = broker()
    assert statuses(b.submit(order(), T0)) == ["new"]
    # the bar that produced the signal: known at T0, opened a minute before
    assert b.on_bar(bar(-1)) == []
    events = b.on_bar(bar(0))
    assert len(fills(events)) == 1 and fills(events)[0].ts == ns_to_datetime(T0)


def test_an_order_created_mid_bar_waits_for_the_next_bar() -> None:
    b = broker()
    b.submit(order(created=T0 + 30 * 1_000_000_000), T0 + 30 * 1_000_000_000)
    assert b.on_bar(bar(0)) == []
    assert len(fills(b.on_bar(bar(1)))) == 1


def test_market_fill_price_and_fee_by_hand() -> None:
    b = broker()
    b.submit(order("4"), T0)
    [fill] = fills(b.on_bar(bar(0, volume=400.0)))
    bps = 1 + 20 * math.sqrt(4 / 400)  # half of 2 bps + 20 × √1 %  = 3 bps
    assert fill.slippage_bps == pytest.approx(bps)
    assert fill.mid_price == D("100.0")
    assert fill.price == D("100.03")  # 100 × 1.0003, tick 0.01 (up for a buy)
    assert fill.fee == D("0.20006000")  # 4 × 100.03 × 5 bps
    assert fill.liquidity is Liquidity.TAKER


def test_a_sell_rounds_down_and_pays_the_quoted_spread() -> None:
    b = broker()
    quote = BookTop(
        symbol="A/B",
        ts=ns_to_datetime(T0 - 1_000_000_000),
        bid=99.95,
        ask=100.05,
        bid_size=10,
        ask_size=10,
    )
    b.on_quote(quote)  # 10 bps spread → 5 bps half
    b.submit(order("0.01", Side.SELL), T0)
    [fill] = fills(b.on_bar(bar(0, volume=1e9)))
    assert fill.price == D("99.94")  # 100 × (1 - 0.0005...) rounded down
    assert fill.slippage_bps == pytest.approx(6.0)  # (100 - 99.94) / 100 in bps, a cost


def test_quotes_from_after_the_bar_open_or_too_old_are_not_used() -> None:
    future = BookTop(
        symbol="A/B", ts=ns_to_datetime(T0 + 1_000_000_000), bid=90, ask=110, bid_size=1, ask_size=1
    )
    for quote in (
        future,
        future.model_copy(update={"ts": ns_to_datetime(T0) - timedelta(hours=1)}),
    ):
        b = broker()
        b.on_quote(quote)
        b.submit(order("0.001"), T0)
        [fill] = fills(b.on_bar(bar(0, volume=1e9)))
        assert fill.price == D("100.02")  # default 2 bps spread, not the 2 000 bps quote


def test_participation_cap_gives_partial_fills() -> None:
    b = broker(max_participation_pct=10)
    b.submit(order("2.5"), T0)
    first = b.on_bar(bar(0, volume=10.0))
    second = b.on_bar(bar(1, volume=10.0))
    third = b.on_bar(bar(2, volume=10.0))
    assert [f.quantity for f in fills(first + second + third)] == [D(1), D(1), D("0.5")]
    assert statuses(first + second + third) == ["partially_filled", "partially_filled", "filled"]
    final = next(e for e in third if isinstance(e, Order))
    assert final.filled_quantity == D("2.5") and final.status is OrderStatus.FILLED
    assert [f.fill_id for f in fills(first + second + third)] == ["o1-f1", "o1-f2", "o1-f3"]
    assert b.working_orders() == []


def test_capacity_is_shared_and_exits_go_first() -> None:
    b = broker(max_participation_pct=10)
    b.submit(order("1", order_id="entry"), T0)
    b.submit(order("1", Side.SELL, order_id="exit"), T0, reduce_only=True)
    got = fills(b.on_bar(bar(0, volume=15.0)))
    assert [(f.order_id, f.quantity) for f in got] == [("exit", D(1)), ("entry", D("0.5"))]


def test_twap_releases_cumulative_slices() -> None:
    b = broker(twap_slices=4)
    b.submit(order("1", algo=ExecAlgo.TWAP), T0)
    sizes = [sum(f.quantity for f in fills(b.on_bar(bar(k, volume=1e6)))) for k in range(5)]
    assert sizes == [D("0.25"), D("0.25"), D("0.25"), D("0.25"), 0]


def test_twap_catches_up_after_a_capped_bar() -> None:
    b = broker(twap_slices=4, max_participation_pct=10)
    b.submit(order("1", algo=ExecAlgo.TWAP), T0)
    volumes = [1.0, 1e6, 1e6, 1e6]  # first bar lets 0.1 through
    sizes = [
        sum(f.quantity for f in fills(b.on_bar(bar(k, volume=v)))) for k, v in enumerate(volumes)
    ]
    assert sizes == [D("0.1"), D("0.4"), D("0.25"), D("0.25")]


def test_pov_takes_a_share_of_each_bar() -> None:
    b = broker(pov_rate_pct=5)
    b.submit(order("3", algo=ExecAlgo.POV), T0)
    sizes = [
        sum(f.quantity for f in fills(b.on_bar(bar(k, volume=v))))
        for k, v in enumerate([20.0, 40.0, 100.0])
    ]
    assert sizes == [D(1), D(2), 0]  # the third bar finds nothing left


def test_time_out_cancels_the_rest_and_keeps_what_filled() -> None:
    b = broker(order_timeout_bars=5, twap_slices=2, max_participation_pct=10)
    b.submit(order("2"), T0)
    events = []
    for k in range(5):
        events += b.on_bar(bar(k, volume=0.0 if k else 5.0))  # only the first bar trades
    assert statuses(events) == ["partially_filled", "cancelled"]
    cancelled = [e for e in events if isinstance(e, Order)][-1]
    assert cancelled.filled_quantity == D("0.5")
    assert "timed out after 5 bars: filled 0.500 of 2" in cancelled.reason


def test_cancel_and_unknown_cancel() -> None:
    b = broker()
    b.submit(order(), T0)
    [cancelled] = b.cancel("o1", T0 + 5, "by hand")
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.reason == "by hand"
    assert b.cancel("o1", T0 + 6, "again") == [] and b.on_bar(bar(0)) == []


@pytest.mark.parametrize(
    ("qty", "message"),
    [("0.0001", "below the minimum 0.001"), ("1.0005", "not a multiple of the lot step 0.001")],
)
def test_rejections_name_the_problem(qty: str, message: str) -> None:
    [rejected] = broker().submit(order(qty), T0)
    assert rejected.status is OrderStatus.REJECTED and message in rejected.reason


def test_duplicate_ids_are_rejected() -> None:
    b = broker()
    b.submit(order(), T0)
    [rejected] = b.submit(order(), T0)
    assert rejected.status is OrderStatus.REJECTED and rejected.reason == "duplicate order id"


def test_limit_orders_rest_as_maker_or_cross_as_taker() -> None:
    b = broker()
    b.submit(order("1", order_type=OrderType.LIMIT, limit_price=D("99.50")), T0)
    assert b.on_bar(bar(0, low=99.5)) == []  # touching is not trading through
    [fill] = fills(b.on_bar(bar(1, low=99.4)))
    assert fill.price == D("99.50") and fill.liquidity is Liquidity.MAKER
    assert fill.fee == D("0.01990000")  # 2 bps maker
    marketable = broker()
    marketable.submit(order("1", order_type=OrderType.LIMIT, limit_price=D("100.01")), T0)
    [taker] = fills(marketable.on_bar(bar(0, volume=1e9)))
    assert taker.price == D("100.01") and taker.liquidity is Liquidity.TAKER  # capped at limit


@given(
    created_offsets=st.lists(
        st.integers(min_value=0, max_value=10 * NS_PER_MINUTE), min_size=1, max_size=5
    ),
    bar_starts=st.lists(st.integers(min_value=-5, max_value=15), min_size=1, max_size=20),
)
@settings(max_examples=100, deadline=None)
def test_no_fill_ever_comes_from_a_bar_that_opened_before_the_order(
    created_offsets: list[int], bar_starts: list[int]
) -> None:
    b = broker()
    created = {}
    for i, offset in enumerate(created_offsets):
        o = order("1", created=T0 + offset, order_id=f"o{i}")
        created[o.order_id] = T0 + offset
        b.submit(o, T0 + offset)
    for k in sorted(set(bar_starts)):
        for fill in fills(b.on_bar(bar(k, volume=1e6))):
            assert datetime_to_ns(fill.ts) >= created[fill.order_id]
