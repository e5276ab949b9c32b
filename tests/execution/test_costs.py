"""Fee and slippage arithmetic, checked by hand."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from operators.execution.costs import FeeSchedule, SlippageModel, estimate_costs
from schemas.common import Side
from schemas.trading import Liquidity

D = Decimal


def test_taker_and_maker_fees_round_up_to_the_step() -> None:
    fees = FeeSchedule(maker_bps=2, taker_bps=5, fee_step=D("0.01"))
    assert fees.fee(D("12345.67")) == D("6.18")  # 6.172835 → up
    assert fees.fee(D("12345.67"), Liquidity.MAKER) == D("2.47")  # 2.469134 → up
    assert fees.fee(D(-1000)) == D("0.50")  # sign of the notional does not matter


def test_slippage_is_half_spread_plus_square_root_impact() -> None:
    model = SlippageModel(default_spread_bps=4, impact_bps_at_full_volume=30)
    assert model.impact_bps(25.0, 100.0) == pytest.approx(15.0)  # 30 × √0.25
    assert model.slippage_bps(25.0, 100.0, None) == pytest.approx(17.0)  # + 4 / 2
    assert model.slippage_bps(25.0, 100.0, 10.0) == pytest.approx(20.0)  # quoted spread
    assert model.impact_bps(500.0, 100.0) == pytest.approx(30.0)  # participation capped at 1
    assert model.impact_bps(1.0, 0.0) == pytest.approx(30.0)  # unknown volume: worst case
    assert model.impact_bps(0.0, 100.0) == 0.0


def test_estimate_for_a_sell_by_hand() -> None:
    est = estimate_costs(
        Side.SELL,
        D(2),
        D(1000),
        FeeSchedule(taker_bps=10),
        SlippageModel(default_spread_bps=2, impact_bps_at_full_volume=20),
        bar_volume=200.0,
        spread_bps=None,
    )
    bps = 1 + 20 * math.sqrt(0.01)  # 3 bps
    assert est.slippage_bps == pytest.approx(bps)
    assert est.expected_price == D("999.7")
    assert est.slippage == D("0.6")  # 2 × 0.3
    assert est.fee == D("1.9994")  # 1999.4 × 10 bps
    assert est.total == D("2.5994")


def test_estimate_of_a_sliced_order_uses_the_slice_for_impact() -> None:
    common = dict(
        side=Side.BUY,
        quantity=D(10),
        mid=D(100),
        fees=FeeSchedule(),
        slippage=SlippageModel(default_spread_bps=0, impact_bps_at_full_volume=100),
        bar_volume=100.0,
        spread_bps=None,
    )
    whole = estimate_costs(**common)
    sliced = estimate_costs(**common, impact_quantity=D(1))
    assert whole.slippage_bps == pytest.approx(100 * math.sqrt(0.1))
    assert sliced.slippage_bps == pytest.approx(10.0)
    assert sliced.slippage == D("1.0")  # 10 units × 0.1


def test_maker_orders_pay_no_spread_or_impact() -> None:
    est = estimate_costs(
        Side.BUY,
        D(1),
        D(100),
        FeeSchedule(maker_bps=1),
        SlippageModel(),
        bar_volume=1.0,
        spread_bps=50.0,
        liquidity=Liquidity.MAKER,
    )
    assert (est.slippage, est.slippage_bps, est.fee) == (D(0), 0.0, D("0.01"))
