"""Exit plans: stop before target, partial at +1R with break-even, trailing stop, shorts."""

from __future__ import annotations

from decimal import Decimal

from operators.portfolio.exits import ExitPlan
from operators.portfolio.instruments import InstrumentSpec
from operators.portfolio.sizing import SizingConfig

D = Decimal
SPEC = InstrumentSpec(price_tick=D("0.01"))


def plan(direction: int = 1, **cfg: object) -> ExitPlan:
    return ExitPlan.open(
        entry=D(100),
        direction=direction,
        stop_distance=D(2),
        config=SizingConfig(**cfg),
        spec=SPEC,
        atr=D(1),
    )


def test_levels_at_one_and_two_r() -> None:
    p = plan()
    assert (p.stop, p.partial_target, p.take_profit) == (D("98.00"), D("102.00"), D("104.00"))


def test_a_bar_touching_stop_and_target_counts_as_stopped() -> None:
    action = plan().on_bar(high=D(105), low=D(97))
    assert action is not None and action.kind == "stop" and action.fraction == 1


def test_partial_then_break_even_then_target() -> None:
    p = plan()
    assert p.on_bar(high=D("101.99"), low=D("98.01")) is None
    partial = p.on_bar(high=D(102), low=D(100))
    assert partial is not None and partial.kind == "partial" and partial.fraction == D("0.5")
    assert p.stop == D("100.00")
    assert p.on_bar(high=D("103.9"), low=D("100.01")) is None  # the partial happens once
    target = p.on_bar(high=D(104), low=D("100.5"))
    assert target is not None and target.kind == "take_profit" and target.fraction == 1


def test_without_partial_or_break_even() -> None:
    p = plan(partial_close_r=None)
    assert p.partial_target is None and p.on_bar(high=D(103), low=D(99)) is None
    q = plan(breakeven_after_partial=False)
    q.on_bar(high=D(102), low=D(101))
    assert q.stop == D("98.00")


def test_trailing_stop_only_tightens() -> None:
    p = plan(trailing_stop_atr_multiple=1.5, partial_close_r=None)  # trail 1.5
    p.on_bar(high=D("100.5"), low=D(99))  # 99.0 > 98 → stop 99.00
    assert p.stop == D("99.00")
    p.on_bar(high=D("101.7"), low=D("100.3"))
    assert p.stop == D("100.20")
    p.on_bar(high=D("101.0"), low=D("100.4"))  # lower high: stop stays
    assert p.stop == D("100.20")
    action = p.on_bar(high=D("100.9"), low=D("100.2"))
    assert action is not None and action.kind == "stop" and action.level == D("100.20")


def test_short_side_mirrors() -> None:
    p = plan(direction=-1)
    assert (p.stop, p.partial_target, p.take_profit) == (D("102.00"), D("98.00"), D("96.00"))
    partial = p.on_bar(high=D(99), low=D(98))
    assert partial is not None and partial.kind == "partial" and p.stop == D("100.00")
    stop = p.on_bar(high=D(100), low=D(97))
    assert stop is not None and stop.kind == "stop"


def test_reprice_follows_the_average_entry_until_the_partial() -> None:
    p = plan()
    p.reprice(D(101))
    assert (p.stop, p.take_profit) == (D("99.00"), D("105.00"))
    p.on_bar(high=D(103), low=D(101))  # partial at 103
    p.reprice(D(90))
    assert p.entry == D(101)
