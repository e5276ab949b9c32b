"""Sizing reference cases, computed by hand, and the limits it must respect."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.portfolio.instruments import InstrumentSpec
from operators.portfolio.sizing import SizingConfig, SizingError, size_position

BTC = InstrumentSpec(price_tick=Decimal("0.01"), lot_step=Decimal("0.00001"))


def plan(**kw: object):
    args = {
        "equity": Decimal(100_000),
        "price": Decimal(40_000),
        "atr": Decimal(150),
        "direction": 1,
        "max_position_notional": Decimal(1_000_000),
        "config": SizingConfig(risk_per_trade_pct=0.5, stop_atr_multiple=2),
        "instrument": BTC,
    }
    args.update(kw)
    return size_position(**args)


def test_risk_budget_bound_long() -> None:
    # budget 500; stop distance 2 × 150 = 300; 500 / 300 = 1.666… → 1.66666 (lot 0.00001, down)
    p = plan()
    assert p.quantity == Decimal("1.66666") and p.capped_by == "risk_budget"
    assert p.stop_distance == Decimal(300)
    assert (p.stop_price, p.partial_target, p.take_profit) == (
        Decimal("39700.00"),
        Decimal("40300.00"),
        Decimal("40600.00"),
    )
    assert p.quantity * p.stop_distance <= p.risk_budget


def test_max_position_bound() -> None:
    p = plan(max_position_notional=Decimal(50_000))
    assert p.quantity == Decimal("1.25000") and p.capped_by == "max_position"


def test_short_levels_mirror_the_long_ones() -> None:
    p = plan(direction=-1)
    assert p.quantity == Decimal("1.66666")
    assert (p.stop_price, p.partial_target, p.take_profit) == (
        Decimal("40300.00"),
        Decimal("39700.00"),
        Decimal("39400.00"),
    )


def test_stop_distance_is_clamped_to_the_percentage_band() -> None:
    cfg = SizingConfig(stop_atr_multiple=2, min_stop_distance_pct=0.5, max_stop_distance_pct=2)
    tight = plan(atr=Decimal(10), config=cfg)  # 20 → at least 0.5 % of 40 000 = 200
    assert tight.stop_distance == Decimal(200) and tight.quantity == Decimal("2.50000")
    wide = plan(atr=Decimal(1_000), config=cfg)  # 2 000 → at most 2 % = 800
    assert wide.stop_distance == Decimal(800) and wide.quantity == Decimal("0.62500")


def test_stops_round_away_from_the_market() -> None:
    spec = InstrumentSpec(price_tick=Decimal(1), lot_step=Decimal("0.001"))
    cfg = SizingConfig(stop_atr_multiple=1, min_stop_distance_pct=0.001)
    long = plan(price=Decimal(100), atr=Decimal("2.5"), instrument=spec, config=cfg)
    short = plan(price=Decimal(100), atr=Decimal("2.5"), direction=-1, instrument=spec, config=cfg)
    assert long.stop_price == Decimal(97) and short.stop_price == Decimal(103)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"atr": None}, "no ATR available yet"),
        ({"atr": Decimal(0)}, "ATR must be positive"),
        ({"equity": Decimal(-1)}, "nothing to risk"),
        ({"direction": 0}, "direction must be +1 or -1"),
        ({"max_position_notional": Decimal("0.1")}, "rounds below the minimum quantity 0.00001"),
    ],
)
def test_refusals_say_why(changes: dict, message: str) -> None:
    with pytest.raises(SizingError, match=re.escape(message)):
        plan(**changes)


@given(
    equity=st.decimals(min_value="100", max_value="10000000", places=2),
    price=st.decimals(min_value="0.0001", max_value="100000", places=4),
    atr_fraction=st.decimals(min_value="0.0001", max_value="0.5", places=4),
    max_notional=st.decimals(min_value="10", max_value="1000000", places=2),
    risk_pct=st.floats(min_value=0.01, max_value=5),
    direction=st.sampled_from([1, -1]),
)
@settings(max_examples=300, deadline=None)
def test_quantity_never_exceeds_either_limit(
    equity: Decimal,
    price: Decimal,
    atr_fraction: Decimal,
    max_notional: Decimal,
    risk_pct: float,
    direction: int,
) -> None:
    spec = InstrumentSpec()
    cfg = SizingConfig(risk_per_trade_pct=risk_pct)
    try:
        p = size_position(
            equity=equity,
            price=price,
            atr=price * atr_fraction,
            direction=direction,
            max_position_notional=max_notional,
            config=cfg,
            instrument=spec,
        )
    except SizingError as exc:
        assert "minimum quantity" in str(exc) or "at or below zero" in str(exc)
        return
    assert p.quantity * price <= max_notional
    assert p.quantity * p.stop_distance <= p.risk_budget
    assert p.quantity == spec.round_quantity(p.quantity) and p.quantity > 0
    assert (
        (p.stop_price < price < p.take_profit)
        if direction > 0
        else (p.take_profit < price < p.stop_price)
    )
