"""Properties of the fusion math (hypothesis) and configuration validation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from operators.fusion.bands import decide
from operators.fusion.config import FusionConfig
from operators.fusion.core import FusionCore
from operators.fusion.reliability import ReliabilityTracker
from operators.fusion.scoring import Vote, consensus, timeframe_scores, weighted_score
from operators.signals.base import build_signal
from operators.signals.engine import CloseTick, SignalBatch
from operators.signals.market_view import CandleRow
from schemas.common import Direction, Timeframe
from schemas.signals import Decision

TIMEFRAMES = [Timeframe.M15, Timeframe.H1, Timeframe.H4]
FLIP = {
    Direction.LONG: Direction.SHORT,
    Direction.SHORT: Direction.LONG,
    Direction.FLAT: Direction.FLAT,
}

votes_strategy = st.lists(
    st.builds(
        Vote,
        signal_id=st.uuids().map(str),
        origin=st.sampled_from(["rules:a", "stat:b", "ml:c"]),
        timeframe=st.sampled_from(TIMEFRAMES),
        direction=st.sampled_from(list(Direction)),
        confidence=st.floats(0, 1),
        weight=st.floats(1e-6, 1e6),
    ),
    max_size=30,
)


def flipped(votes: list[Vote]) -> list[Vote]:
    return [
        Vote(v.signal_id, v.origin, v.timeframe, FLIP[v.direction], v.confidence, v.weight)
        for v in votes
    ]


@given(votes_strategy)
def test_score_bounded(votes):
    assert -1.0 <= weighted_score(votes) <= 1.0
    for score in timeframe_scores(votes).values():
        assert -1.0 <= score <= 1.0


@given(votes_strategy)
def test_score_symmetric_under_long_short(votes):
    assert weighted_score(flipped(votes)) == -weighted_score(votes)


@given(votes_strategy, st.randoms(use_true_random=False))
def test_score_invariant_to_order(votes, rnd):
    shuffled = list(votes)
    rnd.shuffle(shuffled)
    assert weighted_score(shuffled) == weighted_score(votes)
    assert timeframe_scores(shuffled) == timeframe_scores(votes)


@given(
    st.dictionaries(st.sampled_from(TIMEFRAMES), st.floats(-1, 1)),
    st.dictionaries(st.sampled_from(TIMEFRAMES), st.floats(0.01, 100), min_size=1),
)
def test_consensus_bounded(scores, weights):
    assert -1.0 <= consensus(scores, weights) <= 1.0


ASSET = "X/Y"
T0 = 1_640_995_200_000_000_000 + Timeframe.H4.ns


def _signals(spec, flip=False):
    out = []
    for i, (origin, tf, direction, confidence) in enumerate(spec):
        row = CandleRow(ASSET, tf, T0 - tf.ns, 1, 1, 1, 100.0, 1)
        d = FLIP[direction] if flip else direction
        out.append(build_signal(f"{origin}{i}", row, d, confidence, 4))
    return out


signal_spec = st.lists(
    st.tuples(
        st.sampled_from(["rules:a", "stat:b", "ml:c"]),
        st.sampled_from(TIMEFRAMES),
        st.sampled_from([Direction.LONG, Direction.SHORT]),
        st.floats(0, 1),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(signal_spec, st.sampled_from(["hold", "hedge"]), st.randoms(use_true_random=False))
def test_orchestrator_symmetric_and_order_free(spec, policy, rnd):
    config = FusionConfig(conflict_policy=policy, priors={"rules": 2.0, "stat": 1.0, "ml": 0.5})
    tick = [CloseTick(Timeframe.M15, T0, 100.0)]

    def run(signals):
        return FusionCore(ASSET, config).process(SignalBatch(ASSET, T0, tick, signals))[0]

    signals = _signals(spec)
    shuffled = list(signals)
    rnd.shuffle(shuffled)
    base, mirror, reordered = run(signals), run(_signals(spec, flip=True)), run(shuffled)
    assert -1.0 <= base.score <= 1.0
    assert mirror.score == -base.score
    assert mirror.decision == base.decision and mirror.conflict == base.conflict
    assert mirror.direction == FLIP[base.direction]
    assert (mirror.veto is None) == (base.veto is None)
    assert reordered.score == base.score and reordered.decision == base.decision
    assert sorted(c.signal_id for c in reordered.contributions) == sorted(
        c.signal_id for c in base.contributions
    )


@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), max_size=200))
def test_weights_stay_within_bounds(outcomes):
    config = FusionConfig(learning_rate=3.0, weight_floor=0.25, weight_cap=3.0, priors={"stat": 2})
    tracker = ReliabilityTracker(config)
    for confidence, hit in outcomes:
        tracker.record("stat:x", Timeframe.H1, confidence, hit)
        assert 0.5 - 1e-12 <= tracker.weight("stat:x", Timeframe.H1) <= 6.0 + 1e-12


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.7000001, Decision.OPEN),
        (0.7, Decision.REVIEW),
        (-0.7, Decision.REVIEW),
        (0.5, Decision.REVIEW),
        (0.4999999, Decision.IGNORE),
        (0.0, Decision.IGNORE),
        (-1.0, Decision.OPEN),
        (float("nan"), Decision.IGNORE),
    ],
)
def test_band_edges(score, expected):
    assert decide(score) is expected


def test_custom_bands():
    assert decide(0.61, open_above=0.6, review_from=0.3) is Decision.OPEN
    assert decide(0.3, open_above=0.6, review_from=0.3) is Decision.REVIEW
    with pytest.raises(ValueError, match="review_from"):
        decide(0.5, open_above=0.5, review_from=0.5)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("weight_floor", 0.0, "greater than 0"),
        ("weight_cap", 0.5, "greater than or equal to 1"),
        ("conflict_policy", "average", "'hold' or 'hedge'"),
        ("open_above", 1.5, "less than or equal to 1"),
        ("review_from", 0.9, "must be below open_above"),
        ("priors", {"rules": -1.0}, "prior of 'rules'"),
        ("timeframe_weights", {"2h": 1.0}, "Input should be"),
        ("timeframe_weights", {"1h": 0.0}, "weight of 1h"),
        ("unknown_field", 1, "Extra inputs are not permitted"),
    ],
)
def test_bad_config_rejected_naming_the_field(field, value, message):
    with pytest.raises(ValidationError) as caught:
        FusionConfig(**{field: value})
    error = caught.value.errors()[0]
    assert error["loc"][0] == field
    assert message in str(caught.value)
