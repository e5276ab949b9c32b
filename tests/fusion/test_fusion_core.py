"""Reference cases of the fusion orchestrator, computed by hand."""

from __future__ import annotations

import math
import pickle

import pytest

from operators.fusion.config import FusionConfig
from operators.fusion.core import FusionCore
from operators.fusion.reliability import SourceReliability
from operators.signals.base import build_signal
from operators.signals.engine import CloseTick, SignalBatch
from operators.signals.market_view import CandleRow
from schemas.common import Direction, Timeframe
from schemas.signals import Decision, FusedSignal, Signal

ASSET = "BTC/USDT"
M15, H1, H4 = Timeframe.M15, Timeframe.H1, Timeframe.H4
T0 = 1_640_995_200_000_000_000  # 2022-01-01 00:00 UTC, aligned to every timeframe


def signal(
    origin: str,
    timeframe: Timeframe,
    direction: Direction,
    confidence: float,
    close_ns: int,
    expires_after: int = 4,
    gate: dict | None = None,
    close: float = 100.0,
) -> Signal:
    row = CandleRow(ASSET, timeframe, close_ns - timeframe.ns, close, close, close, close, 1.0)
    meta = {"gate": gate} if gate else {}
    return build_signal(origin, row, direction, confidence, expires_after, meta)


def batch(time_ns: int, signals: list[Signal] = (), ticks: list[CloseTick] | None = None):
    ticks = ticks if ticks is not None else [CloseTick(M15, time_ns, 100.0)]
    return SignalBatch(ASSET, time_ns, list(ticks), list(signals))


def fused_of(items) -> list[FusedSignal]:
    return [i for i in items if isinstance(i, FusedSignal)]


def test_weighted_score_by_hand():
    # priors: rules 2, stat 1 → (2·0.6 + 1·(−0.3)) / 3 = 0.3
    core = FusionCore(ASSET, FusionConfig(priors={"rules": 2.0, "stat": 1.0}))
    out = fused_of(
        core.process(
            batch(
                T0,
                [
                    signal("rules:a", M15, Direction.LONG, 0.6, T0),
                    signal("stat:b", M15, Direction.SHORT, 0.3, T0),
                ],
            )
        )
    )
    assert len(out) == 1
    fused = out[0]
    assert fused.score == pytest.approx(0.3)
    assert fused.direction is Direction.LONG
    assert fused.decision is Decision.IGNORE
    shares = {c.origin: c.share for c in fused.contributions}
    assert shares == pytest.approx({"rules:a": 0.4, "stat:b": -0.1})
    assert sum(shares.values()) == pytest.approx(fused.score)
    assert {c.origin: c.weight for c in fused.contributions} == {"rules:a": 2.0, "stat:b": 1.0}
    assert fused.timeframe_scores == pytest.approx({"15m": 0.3})


def test_expired_signal_never_counts_and_emission_on_change():
    core = FusionCore(ASSET, FusionConfig())
    step = M15.ns
    first = core.process(batch(T0, [signal("rules:a", M15, Direction.LONG, 0.8, T0, 2)]))
    assert [f.score for f in fused_of(first)] == [0.8]
    # one candle later: nothing changed → no new fused signal
    assert fused_of(core.process(batch(T0 + step))) == []
    # at expiry (T0 + 2 candles) the signal is gone: a "no live signals" decision is emitted
    expired = fused_of(core.process(batch(T0 + 2 * step)))
    assert len(expired) == 1
    assert expired[0].score == 0.0 and expired[0].contributions == []
    assert expired[0].decision is Decision.IGNORE and expired[0].direction is Direction.FLAT
    assert expired[0].reasons[0] == "no live signals"


def test_newer_signal_of_a_source_replaces_the_older_one():
    core = FusionCore(ASSET, FusionConfig())
    core.process(batch(T0, [signal("stat:z", M15, Direction.LONG, 0.8, T0)]))
    out = fused_of(
        core.process(batch(T0 + M15.ns, [signal("stat:z", M15, Direction.LONG, 0.2, T0 + M15.ns)]))
    )
    assert [c.confidence for c in out[0].contributions] == [0.2]
    assert out[0].score == pytest.approx(0.2)
    assert core.counts["superseded"] == 1


@pytest.mark.parametrize(
    ("confidence", "decision"),
    [
        (0.71, Decision.OPEN),
        (0.7, Decision.REVIEW),
        (0.5, Decision.REVIEW),
        (0.49, Decision.IGNORE),
    ],
)
def test_band_edges(confidence, decision):
    core = FusionCore(ASSET, FusionConfig())
    fused = fused_of(
        core.process(batch(T0, [signal("rules:a", M15, Direction.SHORT, confidence, T0)]))
    )
    assert fused[0].decision is decision
    assert fused[0].direction is Direction.SHORT


def test_conflict_hold_stands_aside_and_records_both_sides():
    core = FusionCore(ASSET, FusionConfig(conflict_confidence=0.6, conflict_policy="hold"))
    fused = fused_of(
        core.process(
            batch(
                T0,
                [
                    signal("rules:up", M15, Direction.LONG, 0.9, T0),
                    signal("stat:down", M15, Direction.SHORT, 0.65, T0),
                ],
            )
        )
    )[0]
    assert fused.conflict is True
    assert fused.score == pytest.approx(0.125)  # the average is still reported, not hidden
    assert fused.direction is Direction.FLAT and fused.decision is Decision.IGNORE
    text = " ".join(fused.reasons)
    assert "conflict" in text and "rules:up@15m" in text and "stat:down@15m" in text
    assert "hold" in text


def test_conflict_hedge_trades_the_net_with_a_hedge_ratio():
    core = FusionCore(
        ASSET, FusionConfig(conflict_confidence=0.6, conflict_policy="hedge", priors={"rules": 9})
    )
    fused = fused_of(
        core.process(
            batch(
                T0,
                [
                    signal("rules:up", M15, Direction.LONG, 0.9, T0),
                    signal("stat:down", M15, Direction.SHORT, 0.6, T0),
                ],
            )
        )
    )[0]
    # score = (9·0.9 − 1·0.6) / 10 = 0.75 → OPEN long; opposing share 0.6 / (8.1 + 0.6)
    assert fused.score == pytest.approx(0.75)
    assert fused.conflict is True
    assert fused.direction is Direction.LONG and fused.decision is Decision.OPEN
    assert any("hedge ratio 0.07" in r for r in fused.reasons)


def test_no_conflict_below_threshold():
    core = FusionCore(ASSET, FusionConfig(conflict_confidence=0.6))
    fused = fused_of(
        core.process(
            batch(
                T0,
                [
                    signal("rules:up", M15, Direction.LONG, 0.9, T0),
                    signal("stat:down", M15, Direction.SHORT, 0.59, T0),
                ],
            )
        )
    )[0]
    assert fused.conflict is False


def test_veto_when_a_shorter_timeframe_opposes_with_high_confidence():
    config = FusionConfig(veto_confidence=0.6, conflict_confidence=1.0, priors={"rules": 4.0})
    core = FusionCore(ASSET, config)
    t = T0 + H4.ns
    fused = fused_of(
        core.process(
            batch(
                t,
                [
                    signal("rules:trend", H4, Direction.LONG, 0.95, t),
                    signal("rules:trend1h", H1, Direction.LONG, 0.9, t),
                    signal("stat:dip", M15, Direction.SHORT, 0.7, t),
                ],
            )
        )
    )[0]
    # score = (4·0.95 + 4·0.9 − 0.7) / 9 = 0.7444 → OPEN, but 15m (−0.7) opposes the 1h long
    assert fused.score == pytest.approx((3.8 + 3.6 - 0.7) / 9)
    assert fused.timeframe_scores == pytest.approx({"15m": -0.7, "1h": 0.9, "4h": 0.95})
    assert fused.consensus == pytest.approx((-0.7 + 0.9 + 0.95) / 3)
    assert fused.decision is Decision.IGNORE
    assert fused.veto == "15m -0.70 opposes the 1h long (+0.90)"


def test_no_veto_when_the_shorter_timeframe_is_unsure():
    config = FusionConfig(veto_confidence=0.6, priors={"rules": 4.0})
    core = FusionCore(ASSET, config)
    t = T0 + H4.ns
    fused = fused_of(
        core.process(
            batch(
                t,
                [
                    signal("rules:trend", H4, Direction.LONG, 0.95, t),
                    signal("stat:dip", M15, Direction.SHORT, 0.5, t),
                ],
            )
        )
    )[0]
    assert fused.veto is None
    assert fused.score == pytest.approx(0.66)  # (4·0.95 − 0.5) / 5
    assert fused.decision is Decision.REVIEW


def test_veto_can_send_to_review():
    config = FusionConfig(
        veto_confidence=0.6, veto_decision="review", conflict_confidence=1.0, priors={"rules": 9}
    )
    core = FusionCore(ASSET, config)
    t = T0 + H4.ns
    fused = fused_of(
        core.process(
            batch(
                t,
                [
                    signal("rules:trend", H4, Direction.LONG, 0.95, t),
                    signal("stat:dip", M15, Direction.SHORT, 0.65, t),
                ],
            )
        )
    )[0]
    assert fused.score == pytest.approx(0.79)  # (9·0.95 − 0.65) / 10 → OPEN before the veto
    assert fused.veto is not None and fused.decision is Decision.REVIEW


GATE = {"min_score": 0.75, "timeframes": ["1h", "4h"]}


def test_gated_signal_counts_only_while_its_gate_holds():
    core = FusionCore(ASSET, FusionConfig())
    t = T0 + H4.ns
    gated = signal("rules:btc_long", M15, Direction.LONG, 0.7, t, expires_after=8, gate=GATE)
    # 1h backs the long by 0.8 but 4h has no signal → the gate is closed
    first = fused_of(
        core.process(batch(t, [gated, signal("stat:h1", H1, Direction.LONG, 0.8, t)]))
    )[0]
    assert [c.origin for c in first.contributions] == ["stat:h1"]
    assert any(r.startswith("gate closed for rules:btc_long@15m") for r in first.reasons)
    # a 4h signal at 0.75 opens it: the gated signal now counts
    t2 = t + M15.ns
    second = fused_of(core.process(batch(t2, [signal("stat:h4", H4, Direction.LONG, 0.75, t2)])))
    assert len(second) == 1
    assert sorted(c.origin for c in second[0].contributions) == [
        "rules:btc_long",
        "stat:h1",
        "stat:h4",
    ]
    # the 4h signal turns to a weak long (0.5 < 0.75): the gate closes again
    t3 = t2 + M15.ns
    third = fused_of(core.process(batch(t3, [signal("stat:h4", H4, Direction.LONG, 0.5, t3)])))
    assert "rules:btc_long" not in [c.origin for c in third[0].contributions]


def test_gate_reads_only_ungated_scores():
    # two gated signals on 1h/4h cannot open each other's gates
    core = FusionCore(ASSET, FusionConfig())
    t = T0 + H4.ns
    a = signal("rules:a", H1, Direction.LONG, 0.9, t, gate={"min_score": 0.5, "timeframes": ["4h"]})
    b = signal("rules:b", H4, Direction.LONG, 0.9, t, gate={"min_score": 0.5, "timeframes": ["1h"]})
    fused = fused_of(core.process(batch(t, [a, b])))[0]
    assert fused.contributions == []


def test_outcomes_update_weights_within_bounds():
    config = FusionConfig(learning_rate=1.0, weight_floor=0.5, weight_cap=2.0)
    core = FusionCore(ASSET, config)
    time_ns, price = T0, 100.0
    for _ in range(40):  # "stat:good" is always right, "stat:bad" always wrong
        ticks = [CloseTick(M15, time_ns, price)]
        signals = [
            signal("stat:good", M15, Direction.LONG, 0.5, time_ns, expires_after=1, close=price),
            signal("stat:bad", M15, Direction.SHORT, 0.5, time_ns, expires_after=1, close=price),
        ]
        core.process(batch(time_ns, signals, ticks))
        time_ns += M15.ns
        price += 1.0
    assert core.reliability.weight("stat:good", M15) == pytest.approx(2.0)
    assert core.reliability.weight("stat:bad", M15) == pytest.approx(0.5)
    snapshot = {s.source: s for s in core.flush()}
    good, bad = snapshot["stat:good@15m"], snapshot["stat:bad@15m"]
    assert good.resolved == 39 and good.hits == 39 and good.hit_rate == 1.0
    assert bad.hit_rate == 0.0
    assert good.brier == pytest.approx(0.0625) and bad.brier == pytest.approx(0.5625)
    # p = 0.75 falls in the bin [0.7, 0.8) of five over [0.5, 1]
    filled = [b for b in good.calibration if b.count]
    assert [(b.low, b.count, b.mean_predicted, b.observed) for b in filled] == [
        (pytest.approx(0.7), 39, 0.75, 1.0)
    ]


def test_a_live_signals_vote_takes_its_sources_new_weight():
    # stat:a's first signal is superseded by its second (live), then resolves: the source's
    # weight moves while the live signal stays the same; the next decision counts it at the
    # weight of now, not the one its vote was first built with
    core = FusionCore(ASSET, FusionConfig(learning_rate=1.0))
    t1, t2, t3 = (T0 + i * M15.ns for i in (1, 2, 3))
    first = signal("stat:a", M15, Direction.LONG, 0.6, T0, expires_after=2, close=100.0)
    core.process(batch(T0, [first], [CloseTick(M15, T0, 100.0)]))
    second = signal("stat:a", M15, Direction.LONG, 0.6, t1, expires_after=4, close=100.0)
    core.process(batch(t1, [second], [CloseTick(M15, t1, 100.0)]))
    before = core.reliability.weight("stat:a", M15)
    assert fused_of(core.process(batch(t2, [], [CloseTick(M15, t2, 120.0)]))) == []
    after = core.reliability.weight("stat:a", M15)
    assert after > before  # the first was right
    other = signal("stat:b", M15, Direction.SHORT, 0.3, t3, 4)
    (fused,) = fused_of(core.process(batch(t3, [other], [CloseTick(M15, t3, 120.0)])))
    weights = {c.signal_id: c.weight for c in fused.contributions}
    assert weights[second.signal_id] == after
    resumed = pickle.loads(pickle.dumps(core))  # the votes are a cache: never persisted
    assert "_votes" not in core.__getstate__() and resumed.evaluate(t3) == core.evaluate(t3)


def test_reliability_snapshots_follow_event_time():
    core = FusionCore(ASSET, FusionConfig(reliability_every_minutes=60))
    out = []
    for i in range(12):  # three hours of 15m closes, one signal resolving each close
        t = T0 + (i + 1) * M15.ns
        out += core.process(
            batch(t, [signal("stat:x", M15, Direction.LONG, 0.4, t, expires_after=1)])
        )
    snaps = [o for o in out if isinstance(o, SourceReliability)]
    hours = sorted({(s.ts.hour, s.ts.minute) for s in snaps})
    assert hours == [(1, 0), (2, 0), (3, 0)]


def test_state_pickles_and_resumes_identically():
    def run(core: FusionCore, start: int, n: int):
        out = []
        for i in range(start, start + n):
            t = T0 + i * M15.ns
            direction = Direction.LONG if i % 3 else Direction.SHORT
            out += core.process(
                batch(
                    t,
                    [signal("stat:x", M15, direction, 0.3 + 0.05 * (i % 5), t, 2)],
                    [CloseTick(M15, t, 100.0 + math.sin(i))],
                )
            )
        return out

    whole = FusionCore(ASSET, FusionConfig())
    expected = run(whole, 0, 30)
    first = FusionCore(ASSET, FusionConfig())
    head = run(first, 0, 13)
    resumed = pickle.loads(pickle.dumps(first))
    assert resumed.reliability.sources == first.reliability.sources
    assert first.reliability.sources["stat:x@15m"].resolved > 0
    assert resumed.config == first.config
    assert head + run(resumed, 13, 17) == expected


def test_reliability_records_pickle_as_flat_tuples_and_from_the_earlier_form():
    from dataclasses import asdict

    from operators.fusion.reliability import ReliabilityTracker, SourceRecord

    tracker = ReliabilityTracker(FusionConfig(priors={"stat:x": 1.5}))
    for i in range(7):
        tracker.record("stat:x", M15, confidence=0.1 * i, hit=i % 2 == 0)
    tracker.record("rules:y", H1, confidence=0.4, hit=True)
    restored = pickle.loads(pickle.dumps(tracker))
    assert restored.sources == tracker.sources
    assert list(restored.sources) == ["stat:x@15m", "rules:y@1h"]
    assert restored.weight("stat:x", M15) == tracker.weight("stat:x", M15)
    record = tracker.sources["stat:x@15m"]
    assert isinstance(record.__getstate__(), tuple)
    earlier = SourceRecord.__new__(SourceRecord)
    earlier.__setstate__((None, asdict(record)))
    assert earlier == record
    assert len(pickle.dumps(tracker)) < 900


def test_the_configuration_pickles_as_its_changes():
    config = FusionConfig(priors={"stat:x": 1.5}, open_above=0.8)
    assert pickle.loads(pickle.dumps(config)) == config
    assert len(pickle.dumps(FusionConfig())) < 150 < len(pickle.dumps(config.model_dump()))
