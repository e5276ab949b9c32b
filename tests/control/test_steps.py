"""Each step of the flow takes the control room's settings: the signal engine drops a switched-off
origin's signals (and resumes when it is switched on), fusion decides with the new bands and
weights, the trading core's guards use the new limits, and a hand close trades at once."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

from operators.control.settings import ControlBase, settings_for
from operators.execution.engine import TradingEngine
from operators.execution.trading_config import TradingConfig
from operators.fusion.config import FusionConfig
from operators.fusion.core import FusionCore
from operators.risk.config import RiskConfig
from operators.signals.base import build_signal
from operators.signals.engine import CloseTick, SignalBatch, SignalEngine
from operators.signals.market_view import CandleRow
from operators.signals.statistical import ZScoreReversion
from schemas.batches import CandleBatch, FeatureBatch
from schemas.common import Direction, Timeframe
from schemas.control import ControlOverrides
from schemas.operations import ManualAction, ManualActionResult
from schemas.trading import Fill, OrderIntent, RiskDecision, RiskReason
from tests.execution.test_engine import candles, of, signal
from tests.execution.test_engine import engine as one_asset

BASE = ControlBase(FusionConfig(), RiskConfig(), ("rules:a", "rules:b", "stat:zscore_reversion"))


def settings(version: int = 1, **overrides):
    return settings_for(BASE, ControlOverrides(**overrides), version)


def _hours(closes: list[float], start: int) -> FeatureBatch:
    hour = Timeframe.H1.ns
    ts = [(start + i) * hour for i in range(len(closes))]
    return FeatureBatch(
        CandleBatch.from_columns(
            "X/Y", "1h", ts, closes, closes, closes, closes, [1] * len(closes)
        ),
        {},
    )


def test_a_switched_off_generator_keeps_learning_but_emits_nothing_until_switched_on() -> None:
    closes = [10, 10.2, 9.9, 10.1, 12.0, 10, 10.2, 9.9, 10.1, 12.0]

    def engine() -> SignalEngine:
        return SignalEngine([ZScoreReversion(5, 1.5, 2.0, 0.6, 3, [Timeframe.H1])], [Timeframe.H1])

    reference = engine()
    expected = [s.signal_id for s in reference.push(_hours(closes, 0)).signals]
    expected += [s.signal_id for s in reference.push(_hours(closes, 10)).signals]
    assert len(expected) >= 2

    switched = engine()
    switched.disabled = frozenset({"stat:zscore_reversion"})
    assert switched.push(_hours(closes, 0)).signals == []
    assert switched.counts["signals_disabled"] >= 1
    switched = pickle.loads(pickle.dumps(switched))  # the switch is part of the state
    switched.disabled = frozenset()
    resumed = [s.signal_id for s in switched.push(_hours(closes, 10)).signals]
    later = expected[len(expected) - len(resumed) :]
    assert resumed and resumed == later  # it learned meanwhile: the same signals as never off


def _batch(core_clock: int, origin: str, confidence: float) -> SignalBatch:
    row = CandleRow("A/B", Timeframe.H1, core_clock, 1, 1, 1, 100.0, 1)
    return SignalBatch(
        "A/B",
        row.close_ns,
        [CloseTick(Timeframe.H1, row.close_ns, 100.0)],
        [build_signal(origin, row, Direction.LONG, confidence, 3)],
    )


def test_fusion_decides_with_the_new_bands_and_drops_a_switched_off_origin_at_once() -> None:
    hour = Timeframe.H1.ns
    core = FusionCore("A/B", FusionConfig())
    [first] = [f for f in core.process(_batch(0, "rules:a", 0.8)) if hasattr(f, "decision")]
    assert (first.score, first.decision.value) == (0.8, "open")
    core.reconfigure(settings(fusion={"open_above": 0.9}).fusion, frozenset())
    [second] = [f for f in core.process(_batch(hour, "rules:b", 0.8)) if hasattr(f, "decision")]
    assert (round(second.score, 6), second.decision.value) == (0.8, "review")  # 0.8 ≤ 0.9
    core.reconfigure(settings(disabled=["rules:b"]).fusion, frozenset({"rules:b"}))
    assert sorted(s.origin for s in core.live.values()) == ["rules:a"]
    out = core.process(_batch(2 * hour, "rules:b", 0.9))  # nor is a new rules:b signal
    [third] = [f for f in out if hasattr(f, "decision")]
    assert [c.origin for c in third.contributions] == ["rules:a"]
    assert core.counts["signals_disabled"] == 1


def test_new_priors_weigh_at_once_and_keep_what_was_learned() -> None:
    core = FusionCore("A/B", FusionConfig(learning_rate=1.0))
    core.reliability.record("rules:a", Timeframe.H1, confidence=0.6, hit=True)
    learned = core.reliability.weight("rules:a", Timeframe.H1)
    core.reconfigure(FusionConfig(learning_rate=1.0, priors={"rules": 2.0}), frozenset())
    assert core.reliability.weight("rules:a", Timeframe.H1) == 2.0 * learned


def _trading() -> TradingEngine:
    config = TradingConfig.model_validate({"assets": ("A/B", "C/D")})
    return TradingEngine(config, atr={"A/B": 1.0, "C/D": 1.0})


def _two_entries(limits: RiskConfig | None) -> list:
    """Enter A/B, then C/D; ``limits`` arrive from the control room before either."""
    engine = _trading()
    control = [] if limits is None else [settings(risk=limits.model_dump(mode="json"))]
    market = [candles("A/B", [100.0] * 20), candles("C/D", [100.0] * 20)]
    entries = [signal(3, asset="A/B"), signal(8, asset="C/D")]
    return engine.process([*control, *market, *entries]) + engine.flush()


def test_the_guards_use_the_new_limits() -> None:
    def c_d(events: list) -> list:
        return [(d.approved, d.reason) for d in of(events, RiskDecision) if d.asset == "C/D"]

    assert c_d(_two_entries(None)) == [(True, RiskReason.APPROVED)]
    one = RiskConfig(max_open_positions=1)
    assert c_d(_two_entries(one)) == [(False, RiskReason.MAX_OPEN_POSITIONS)]


def test_a_hand_close_trades_at_once_at_the_cores_time() -> None:
    engine = one_asset(signal_wait_seconds=1)
    events = engine.process([candles("A/B", [100.0] * 10), signal(3, asset="A/B")])
    assert engine.book.quantity("A/B") > 0
    pressed = datetime(2026, 1, 1, tzinfo=UTC)  # a wall clock far ahead of the market
    close = ManualAction(
        action_id="close-1",
        kind="close_position",
        actor="ana",
        ts=pressed,
        asset="A/B",
        reason="news",
        portfolio="default",
    )
    events = engine.process([close])
    [result] = of(events, ManualActionResult)
    assert result.applied and result.ts < pressed
    [exit_intent] = of(events, OrderIntent)
    assert exit_intent.reduce_only and exit_intent.reason == "closed by ana"
    events = engine.process([candles("A/B", [100.0] * 3, start=10)])
    [fill] = of(events, Fill)
    assert fill.side.value == "sell" and fill.ts >= result.ts  # on a bar after the press
    assert engine.book.quantity("A/B") == 0
