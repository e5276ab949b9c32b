"""The fusion math as pure functions over weighted votes.

* score: ``Σ w·c / Σ w`` with ``c = sign(direction) · confidence`` — in [−1, 1], symmetric under
  long ↔ short, independent of the order of the votes;
* per-timeframe scores: the same over each timeframe's votes;
* consensus: ``Σ W_tf · score_tf / Σ W_tf`` over the main timeframes that have votes;
* conflict: a long and a short vote both at least ``conflict_confidence``;
* veto: the entry direction is backed by a timeframe while a *shorter* main timeframe opposes it
  with ``|score| ≥ veto_confidence`` — no entry on the longer timeframe against it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter

from schemas.common import Direction, Timeframe

# Enum properties are slow to read (``enum.property.__get__``): the values the scores read
# for every vote are looked up in tables instead.
_SECONDS = {tf: tf.seconds for tf in Timeframe}
_SIGN = {d: d.sign for d in Direction}
_BY_SIGNAL_ID = attrgetter("signal_id")


@dataclass(frozen=True, slots=True)
class Vote:
    """One live signal as the fusion sees it."""

    signal_id: str
    origin: str
    timeframe: Timeframe
    direction: Direction
    confidence: float
    weight: float

    @property
    def signed(self) -> float:
        return _SIGN[self.direction] * self.confidence


def weighted_score(votes: Iterable[Vote]) -> float:
    """``Σ w·c / Σ w`` (0 without votes or weight), clipped to [−1, 1] against rounding.

    >>> weighted_score([Vote("a", "x", Timeframe.H1, Direction.LONG, 0.8, 1.0),
    ...                 Vote("b", "y", Timeframe.H1, Direction.SHORT, 0.4, 3.0)])
    -0.10000000000000003
    """
    return _score_in_order(sorted(votes, key=_BY_SIGNAL_ID))  # fixed order: same float sum


def _score_in_order(votes: Iterable[Vote]) -> float:
    numerator = denominator = 0.0
    for vote in votes:
        numerator += vote.weight * (_SIGN[vote.direction] * vote.confidence)
        denominator += vote.weight
    if not denominator > 0:
        return 0.0
    return min(1.0, max(-1.0, numerator / denominator))


def timeframe_scores(votes: Iterable[Vote]) -> dict[Timeframe, float]:
    """The weighted score of each timeframe that has votes.

    >>> timeframe_scores([Vote("a", "x", Timeframe.H1, Direction.LONG, 0.8, 1.0),
    ...                   Vote("b", "x", Timeframe.H4, Direction.SHORT, 0.5, 1.0)])
    {<Timeframe.H1: '1h'>: 0.8, <Timeframe.H4: '4h'>: -0.5}
    """
    return _timeframe_scores_in_order(sorted(votes, key=_BY_SIGNAL_ID))


def _timeframe_scores_in_order(votes: Iterable[Vote]) -> dict[Timeframe, float]:
    groups: dict[Timeframe, list[Vote]] = {}
    for vote in votes:  # each group keeps the order: sorted by signal id as a whole
        groups.setdefault(vote.timeframe, []).append(vote)
    return {tf: _score_in_order(groups[tf]) for tf in sorted(groups, key=_SECONDS.__getitem__)}


def scores(votes: Iterable[Vote]) -> tuple[float, dict[Timeframe, float]]:
    """:func:`weighted_score` and :func:`timeframe_scores` of the same votes, sorted once.

    >>> scores([Vote("a", "x", Timeframe.H1, Direction.LONG, 0.8, 1.0),
    ...         Vote("b", "x", Timeframe.H4, Direction.SHORT, 0.5, 1.0)])
    (0.15000000000000002, {<Timeframe.H1: '1h'>: 0.8, <Timeframe.H4: '4h'>: -0.5})
    """
    ordered = sorted(votes, key=_BY_SIGNAL_ID)
    return _score_in_order(ordered), _timeframe_scores_in_order(ordered)


def consensus(scores: Mapping[Timeframe, float], weights: Mapping[Timeframe, float]) -> float:
    """Weighted mean of the main timeframes' scores (those with votes); 0 if none.

    >>> consensus({Timeframe.M15: 0.9, Timeframe.H1: 0.3, Timeframe.M1: -1.0},
    ...           {Timeframe.M15: 1.0, Timeframe.H1: 2.0, Timeframe.H4: 1.0})
    0.5
    """
    numerator = denominator = 0.0
    for timeframe, weight in weights.items():
        if timeframe in scores:
            numerator += weight * scores[timeframe]
            denominator += weight
    return min(1.0, max(-1.0, numerator / denominator)) if denominator > 0 else 0.0


def find_conflict(votes: Sequence[Vote], threshold: float) -> tuple[Vote, Vote] | None:
    """The strongest long and strongest short vote if both reach ``threshold``.

    >>> a = Vote("a", "x", Timeframe.H1, Direction.LONG, 0.8, 1.0)
    >>> b = Vote("b", "y", Timeframe.H1, Direction.SHORT, 0.7, 1.0)
    >>> [v.signal_id for v in find_conflict([a, b], 0.6)], find_conflict([a, b], 0.75)
    (['a', 'b'], None)
    """
    longs = [v for v in votes if v.direction is Direction.LONG and v.confidence >= threshold]
    shorts = [v for v in votes if v.direction is Direction.SHORT and v.confidence >= threshold]
    if not longs or not shorts:
        return None
    strongest = lambda group: max(group, key=lambda v: (v.confidence, v.signal_id))  # noqa: E731
    return strongest(longs), strongest(shorts)


def find_veto(
    entry_sign: int,
    scores: Mapping[Timeframe, float],
    main_timeframes: Iterable[Timeframe],
    threshold: float,
) -> tuple[Timeframe, Timeframe] | None:
    """(shorter, longer) main timeframes where the shorter opposes an entry the longer backs.

    >>> scores = {Timeframe.M15: -0.8, Timeframe.H1: 0.9, Timeframe.H4: 0.6}
    >>> find_veto(1, scores, [Timeframe.M15, Timeframe.H1, Timeframe.H4], 0.6)
    (<Timeframe.M15: '15m'>, <Timeframe.H1: '1h'>)
    >>> find_veto(-1, scores, [Timeframe.M15, Timeframe.H1, Timeframe.H4], 0.6) is None
    True
    """
    if entry_sign == 0:
        return None
    ordered = sorted((tf for tf in main_timeframes if tf in scores), key=_SECONDS.__getitem__)
    for i, longer in enumerate(ordered):
        if math.copysign(1.0, scores[longer]) != entry_sign or scores[longer] == 0:
            continue
        for shorter in ordered[:i]:
            if scores[shorter] * entry_sign <= -threshold:
                return shorter, longer
    return None


def gate_holds(
    direction: Direction, min_score: float, timeframes: Iterable[Timeframe], scores: Mapping
) -> bool:
    """A gated signal counts only while every gate timeframe's score backs it by ``min_score``.

    A gate timeframe without live (ungated) signals has score 0: the gate is closed.

    >>> gate_holds(Direction.LONG, 0.75, [Timeframe.H1, Timeframe.H4],
    ...            {Timeframe.H1: 0.8, Timeframe.H4: 0.75})
    True
    >>> gate_holds(Direction.LONG, 0.75, [Timeframe.H1, Timeframe.H4], {Timeframe.H1: 0.9})
    False
    """
    return all(direction.sign * scores.get(tf, 0.0) >= min_score for tf in timeframes)
