"""Every guard at its band edge: exactly at a limit passes, one step beyond is refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.risk.config import RiskConfig
from operators.risk.costs import CostEstimate
from operators.risk.guards import RiskContext, RiskGuard, reduces_exposure
from schemas.common import NS_PER_MINUTE, NS_PER_SECOND, Side, datetime_to_ns
from schemas.market import BookTop
from schemas.trading import OrderIntent, RiskReason, TradingState

NOW = datetime(2022, 1, 10, 12, 0, tzinfo=UTC)
NOW_NS = datetime_to_ns(NOW)
PRICE = Decimal(40_000)


def intent(quantity: str | Decimal = "1", side: Side = Side.BUY, **extra: object) -> OrderIntent:
    return OrderIntent(
        intent_id="i1",
        asset="BTC/USDT",
        side=side,
        quantity=Decimal(quantity),
        reference_price=PRICE,
        timestamp=NOW,
        **extra,
    )


def context(**changes: object) -> RiskContext:
    base = RiskContext(
        now_ns=NOW_NS,
        equity=Decimal(100_000),
        last_bar_close_ns=NOW_NS,
        bar_ns=NS_PER_MINUTE,
        slice_quantity=Decimal(1),
        mean_bar_volume=1_000.0,
    )
    return replace(base, **changes)


def guard(**limits: object) -> RiskGuard:
    return RiskGuard(RiskConfig.model_validate(limits), bar_ns=NS_PER_MINUTE)


def book(bid: float, ask: float, bid_size: float = 5.0, ask_size: float = 5.0, age_s: float = 1):
    return BookTop(
        symbol="BTC/USDT",
        ts=NOW - timedelta(seconds=age_s),
        bid=bid,
        ask=ask,
        bid_size=bid_size,
        ask_size=ask_size,
    )


LOOSE = {
    "max_position_notional": "1e9",
    "max_asset_exposure_pct": 1000,
    "max_total_exposure_pct": 1000,
}


def reason(g: RiskGuard, i: OrderIntent, ctx: RiskContext) -> RiskReason:
    return g.check(i, ctx).reason


def test_a_plain_entry_is_approved_with_its_cost_estimate() -> None:
    costs = CostEstimate(
        fee=Decimal("40.1"), slippage=Decimal("8"), slippage_bps=2.0, expected_price=PRICE
    )
    decision = guard().check(intent(), context(costs=costs))
    assert decision.approved and decision.reason is RiskReason.APPROVED
    assert (decision.estimated_fee, decision.estimated_slippage) == (Decimal("40.1"), Decimal(8))
    assert "fee 40.1 + slippage 8" in decision.detail
    assert decision.trading_state is TradingState.ACTIVE
    assert decision.decision_id == "risk:i1" and decision.timestamp == NOW


def test_max_position_edge() -> None:
    g = guard(max_position_notional="50000", max_asset_exposure_pct=100)
    assert reason(g, intent("1.25"), context()) is RiskReason.APPROVED  # 50 000 exactly
    denied = g.check(intent("1.25000001"), context())
    assert denied.reason is RiskReason.MAX_POSITION and not denied.approved
    assert "50000.00040000 > max 50000" in denied.detail


def test_max_position_counts_the_position_and_working_orders() -> None:
    g = guard(max_position_notional="50000", max_asset_exposure_pct=100)
    ctx = context(position=Decimal("0.75"), pending=Decimal("0.25"))
    assert reason(g, intent("0.25"), ctx) is RiskReason.APPROVED
    assert reason(g, intent("0.26"), ctx) is RiskReason.MAX_POSITION


def test_asset_exposure_edge() -> None:
    g = guard(max_position_notional="1e9", max_asset_exposure_pct=50)
    assert reason(g, intent("1.25"), context()) is RiskReason.APPROVED  # 50 % of 100 000
    assert reason(g, intent("1.2501"), context()) is RiskReason.MAX_ASSET_EXPOSURE
    assert reason(g, intent("0.01"), context(equity=Decimal(0))) is RiskReason.MAX_ASSET_EXPOSURE


def test_total_exposure_edge() -> None:
    g = guard(max_position_notional="1e9", max_asset_exposure_pct=100, max_total_exposure_pct=100)
    ctx = context(other_gross_exposure=Decimal(40_000))
    assert reason(g, intent("1.5"), ctx) is RiskReason.APPROVED  # 40 000 + 60 000 = 100 %
    assert reason(g, intent("1.5001"), ctx) is RiskReason.MAX_TOTAL_EXPOSURE


def test_max_open_positions_only_limits_new_positions() -> None:
    g = guard(max_open_positions=2)
    assert reason(g, intent("0.1"), context(other_open_positions=1)) is RiskReason.APPROVED
    full = context(other_open_positions=2)
    assert reason(g, intent("0.1"), full) is RiskReason.MAX_OPEN_POSITIONS
    adding = replace(full, position=Decimal("0.1"))
    assert reason(g, intent("0.1"), adding) is RiskReason.APPROVED


def test_liquidity_with_book_depth_on_the_taking_side() -> None:
    g = guard(**LOOSE)
    quotes = book(39_999.0, 40_001.0, bid_size=0.5, ask_size=2.0)
    assert reason(g, intent("2"), context(book=quotes, slice_quantity=Decimal(2))) is (
        RiskReason.APPROVED
    )
    too_big = context(book=quotes, slice_quantity=Decimal("2.00000001"))
    assert reason(g, intent("2.00000001"), too_big) is RiskReason.LIQUIDITY
    sell = context(book=quotes, slice_quantity=Decimal("0.6"))
    assert reason(g, intent("0.6", Side.SELL), sell) is RiskReason.LIQUIDITY


def test_liquidity_volume_proxy_without_book() -> None:
    g = guard(max_volume_participation_pct=10, **LOOSE)
    ctx = context(mean_bar_volume=50.0, slice_quantity=Decimal(5))
    assert reason(g, intent("5"), ctx) is RiskReason.APPROVED
    assert reason(g, intent("5"), replace(ctx, slice_quantity=Decimal("5.0001"))) is (
        RiskReason.LIQUIDITY
    )
    assert reason(g, intent("5"), replace(ctx, mean_bar_volume=None)) is RiskReason.LIQUIDITY
    # a sliced order is judged by its slice
    sliced = replace(ctx, slice_quantity=Decimal(1))
    assert reason(g, intent("5", algo="twap"), sliced) is RiskReason.APPROVED


def test_stale_data_edge() -> None:
    g = guard(stale_after_bars=2)
    edge = context(last_bar_close_ns=NOW_NS - 2 * NS_PER_MINUTE)
    assert reason(g, intent(), edge) is RiskReason.APPROVED
    stale = context(last_bar_close_ns=NOW_NS - 2 * NS_PER_MINUTE - 1)
    decision = g.check(intent(), stale)
    assert decision.reason is RiskReason.STALE_DATA and "> 120s (2.0 bars)" in decision.detail
    assert reason(g, intent(), context(last_bar_close_ns=None)) is RiskReason.STALE_DATA


def test_spread_edge_and_stale_quotes_are_ignored() -> None:
    g = guard(max_spread_bps=25)
    mid = 40_000.0
    half = mid * 25 / 10_000 / 2
    at_limit = book(mid - half, mid + half)
    assert at_limit.spread_bps == pytest.approx(25.0)
    assert reason(g, intent(), context(book=at_limit)) is RiskReason.APPROVED
    wide = book(mid - 2 * half, mid + 2 * half)
    assert reason(g, intent(), context(book=wide)) is RiskReason.SPREAD
    old_wide = book(mid - 2 * half, mid + 2 * half, age_s=61)
    assert reason(g, intent(), context(book=old_wide)) is RiskReason.APPROVED


def test_order_rate_window() -> None:
    g = guard(max_orders_per_window=3, order_rate_window_seconds=60)
    for k in range(3):
        assert reason(g, intent(), context(now_ns=NOW_NS + k * NS_PER_SECOND)) is (
            RiskReason.APPROVED
        )
    assert reason(g, intent(), context(now_ns=NOW_NS + 3 * NS_PER_SECOND)) is RiskReason.ORDER_RATE
    # denials do not count; the first approval leaves the window after 60 s
    assert reason(g, intent(), context(now_ns=NOW_NS + 60 * NS_PER_SECOND)) is RiskReason.APPROVED


def test_stop_and_take_profit_must_be_on_the_right_side() -> None:
    g = guard()
    bad_stop = intent(stop_price=Decimal(40_100))
    assert reason(g, bad_stop, context()) is RiskReason.DATA_QUALITY
    bad_target = intent("1", Side.SELL, take_profit=Decimal(40_100))
    assert reason(g, bad_target, context()) is RiskReason.DATA_QUALITY
    good = intent(stop_price=Decimal(39_000), take_profit=Decimal(42_000))
    assert reason(g, good, context()) is RiskReason.APPROVED


def test_reduce_only_must_reduce() -> None:
    g = guard()
    exit_long = intent("1", Side.SELL, reduce_only=True)
    assert reason(g, exit_long, context(position=Decimal(1))) is RiskReason.APPROVED
    assert reason(g, exit_long, context(position=Decimal(0))) is RiskReason.DATA_QUALITY
    assert reason(g, exit_long, context(position=Decimal("0.5"))) is RiskReason.DATA_QUALITY


def test_exits_skip_entry_checks() -> None:
    g = guard(max_orders_per_window=1, max_spread_bps=5)
    bad_market = context(
        position=Decimal(2),
        last_bar_close_ns=None,
        book=book(39_000.0, 41_000.0, bid_size=0.0),
        mean_bar_volume=None,
    )
    assert reason(g, intent("2", Side.SELL, reduce_only=True), bad_market) is RiskReason.APPROVED
    assert reason(g, intent("2", Side.SELL, reduce_only=True), bad_market) is RiskReason.APPROVED


def test_halted_refuses_everything_new_even_exits() -> None:
    g = guard()
    [change] = g.set_state(TradingState.HALTED, now_ns=NOW_NS, equity=Decimal(1), detail="ops")
    assert (change.previous, change.current, change.cause) == (
        TradingState.ACTIVE,
        TradingState.HALTED,
        "manual",
    )
    decision = g.check(intent(), context())
    assert decision.reason is RiskReason.HALTED and decision.trading_state is TradingState.HALTED
    assert "by hand: ops" in decision.detail
    exit_long = intent("1", Side.SELL, reduce_only=True)
    assert reason(g, exit_long, context(position=Decimal(1))) is RiskReason.HALTED


def test_reducing_lets_only_exposure_reducing_orders_through() -> None:
    g = guard()
    g.set_state(TradingState.REDUCING, now_ns=NOW_NS, equity=Decimal(1))
    long_one = context(position=Decimal(1))
    assert reason(g, intent("0.5", Side.SELL), long_one) is RiskReason.APPROVED
    assert reason(g, intent("1", Side.SELL), long_one) is RiskReason.APPROVED
    assert reason(g, intent("1.5", Side.SELL), long_one) is RiskReason.REDUCING_ONLY  # flips
    assert reason(g, intent("0.1", Side.BUY), long_one) is RiskReason.REDUCING_ONLY
    assert reason(g, intent("0.1", Side.BUY), context()) is RiskReason.REDUCING_ONLY


def test_breaker_state_is_reported_with_the_breaker_reason_and_reset_by_hand() -> None:
    g = guard(daily_loss_limit_pct=3, max_drawdown_pct=50)
    g.on_equity(NOW_NS, Decimal(100_000))
    [change] = g.on_equity(NOW_NS + 1, Decimal(96_999))
    assert change.current is TradingState.REDUCING and change.cause == "daily_loss"
    decision = g.check(intent(), context())
    assert decision.reason is RiskReason.DAILY_LOSS
    assert "only exposure-reducing orders pass" in decision.detail
    g.set_state(TradingState.ACTIVE, now_ns=NOW_NS + 2, equity=Decimal(96_999))
    assert g.state is TradingState.ACTIVE
    assert reason(g, intent(), context()) is RiskReason.APPROVED
    assert g.on_equity(NOW_NS + 3, Decimal(96_000)) == []  # re-based on 96 999: -1.03 %


@given(
    quantity=st.decimals(min_value="0.00000001", max_value="10", places=8),
    position=st.decimals(min_value="-3", max_value="3", places=8),
    pending=st.decimals(min_value="-1", max_value="1", places=8),
    side=st.sampled_from([Side.BUY, Side.SELL]),
    other=st.decimals(min_value="0", max_value="200000", places=2),
)
@settings(max_examples=300, deadline=None)
def test_an_approved_entry_never_breaches_a_limit(
    quantity: Decimal, position: Decimal, pending: Decimal, side: Side, other: Decimal
) -> None:
    cfg = RiskConfig(max_position_notional=Decimal(60_000), max_asset_exposure_pct=50)
    g = RiskGuard(cfg, NS_PER_MINUTE)
    ctx = context(
        position=position,
        pending=pending,
        other_gross_exposure=other,
        slice_quantity=quantity,
        mean_bar_volume=1e9,
    )
    order = intent(quantity, side)
    decision = g.check(order, ctx)
    signed = quantity if side is Side.BUY else -quantity
    after = abs(position + pending + signed) * PRICE
    if decision.approved and not reduces_exposure(position + pending, signed):
        assert after <= cfg.max_position_notional
        assert after <= ctx.equity * Decimal("0.5")
        assert other + after <= ctx.equity
