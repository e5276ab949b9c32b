"""The fusion orchestrator of one asset: live signals → one decision with its reasons.

Input is the signal engine's output for the asset (:class:`~operators.signals.engine.SignalBatch`),
already in event-time order: candle closes (the clock and the prices) and signals. At every event
time ``T`` the orchestrator, in this order,

1. resolves the outcome of every signal whose horizon ended (its expiry) with the close of its
   timeframe at ``T`` and updates that source's reliability and weight;
2. drops signals that expired (``expires_at ≤ T``: a signal past expiry never counts);
3. takes in the signals stamped ``T`` — a source's newer signal replaces its older one, so a
   generator firing at every close does not multiply its weight;
4. evaluates the fused score and emits a :class:`FusedSignal` when the set of counted signals
   changed (including to empty).

Gates (the seed playbook's "only when the fused score on 1h and 4h is ≥ 0.75"): a signal whose
``meta["gate"]`` asks for it is counted only while the gate holds against the per-timeframe scores
of the *ungated* live signals. The gate is re-checked at every evaluation, so the same signal may
be admitted later or dropped again; it never feeds its own gate, and the dataflow has no cycle
(rules emit candidates, the orchestrator admits them).

Decision: the band of the score (or of the consensus, ``decide_on``); a conflict (opposing
signals both ≥ ``conflict_confidence``) is recorded and resolved by policy — ``hold`` stands
aside (direction flat, IGNORE), ``hedge`` keeps the net score and its band, reporting the hedge
ratio (opposing weight share) for sizing; a veto (a shorter main timeframe opposing the entry
with high confidence) turns the decision into ``veto_decision``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from operators.fusion.bands import decide
from operators.fusion.config import FusionConfig
from operators.fusion.reliability import (
    TIMEFRAME_TEXT,
    ReliabilityTracker,
    SourceReliability,
    source_key,
)
from operators.fusion.scoring import (
    Vote,
    consensus,
    find_conflict,
    find_veto,
    gate_holds,
    scores,
    timeframe_scores,
)
from operators.signals.engine import CloseTick, SignalBatch
from schemas.common import NS_PER_MINUTE, Direction, Timeframe, datetime_to_ns, ns_to_datetime
from schemas.signals import Decision, FusedSignal, Signal, make_signal_id

_NEVER_NS = 2**63 - 1
_DIRECTION_TEXT = {d: d.value for d in Direction}


@dataclass(frozen=True, slots=True)
class _Pending:
    origin: str
    timeframe: Timeframe
    direction: Direction
    confidence: float
    entry: float


@dataclass(frozen=True, slots=True)
class _Gate:
    min_score: float
    timeframes: tuple[Timeframe, ...]


def _gate_of(signal: Signal) -> _Gate | None:
    spec = signal.meta.get("gate")
    if not spec:
        return None
    return _Gate(float(spec["min_score"]), tuple(Timeframe(t) for t in spec["timeframes"]))


@dataclass(slots=True)
class _Admission:
    admitted: list[Vote]
    reasons: list[str]
    key: tuple[tuple[str, ...], tuple[str, ...]]


class FusionCore:
    """Per-asset fusion state: live signals, pending outcomes, reliability, last emission.

    >>> from schemas.common import Direction
    >>> from operators.signals.base import build_signal
    >>> from operators.signals.market_view import CandleRow
    >>> core = FusionCore("BTC/USDT", FusionConfig())
    >>> row = CandleRow("BTC/USDT", Timeframe.H1, 0, 1, 1, 1, 100.0, 1)
    >>> signal = build_signal("rules:a", row, Direction.LONG, 0.8, 2)
    >>> out = core.process(SignalBatch("BTC/USDT", row.close_ns,
    ...                                [CloseTick(Timeframe.H1, row.close_ns, 100.0)], [signal]))
    >>> fused = out[0]
    >>> fused.score, fused.decision.value, fused.contributions[0].share
    (0.8, 'open', 0.8)
    """

    disabled: frozenset[str] = frozenset()
    _next_expiry_ns: int = -1
    """No live signal expires before this (a lower bound; -1: scan at the next step)."""
    _changed: bool = True
    """Live signals, weights or settings changed since the last evaluation."""

    def __init__(
        self, asset: str, config: FusionConfig, *, disabled: frozenset[str] = frozenset()
    ) -> None:
        self.asset = asset
        self.config = config
        self.disabled = disabled
        self.reliability = ReliabilityTracker(config)
        self.live: dict[str, Signal] = {}
        self._pending: dict[Timeframe, list[tuple[int, int, _Pending]]] = {}
        self._sequence = 0
        self.clock_ns = -1
        self._last_key: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self._next_snapshot_ns: int | None = None
        self._votes: dict[str, tuple[Signal, Vote, _Gate | None]] = {}
        """Per live key, the vote (and gate) last built for its signal: rebuilt when the
        signal is replaced or the source's weight moves. A cache, never persisted."""
        self.counts: dict[str, int] = {
            "signals_in": 0,
            "late_signals": 0,
            "superseded": 0,
            "expired": 0,
            "resolved": 0,
            "fused": 0,
        }

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_votes", None)  # a cache, derived from the live signals and the weights
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._votes = {}

    # --- driving -------------------------------------------------------------------------

    def process(self, batch: SignalBatch) -> list[FusedSignal | SourceReliability]:
        """Consume one engine release; return fused signals and reliability snapshots."""
        out: list[FusedSignal | SourceReliability] = []
        ticks: dict[int, list[CloseTick]] = {}
        for tick in batch.closes:
            ticks.setdefault(tick.close_ns, []).append(tick)
        arrivals: dict[int, list[tuple[int, Signal]]] = {}
        for signal in batch.signals:
            stamp = datetime_to_ns(signal.timestamp)
            arrivals.setdefault(max(stamp, self.clock_ns), []).append((stamp, signal))
        for time_ns in sorted(ticks.keys() | arrivals.keys()):
            self._step(time_ns, ticks.get(time_ns, []), arrivals.get(time_ns, []), out)
        return out

    def reconfigure(self, config: FusionConfig, disabled: frozenset[str]) -> None:
        """Take new weights, bands and switched-off origins (the control room): the next
        evaluation uses them; live signals of a switched-off origin stop counting at once."""
        self.config = config
        self.reliability.reconfigure(config)
        self._votes = {}  # every weight may have moved
        self.disabled = disabled
        self._changed = True
        for key in [k for k, s in self.live.items() if s.origin in disabled]:
            del self.live[key]

    def flush(self) -> list[SourceReliability]:
        """End of input: a final reliability snapshot of every source."""
        if self.clock_ns < 0:
            return []
        return self.reliability.snapshot(
            self.asset, ns_to_datetime(self.clock_ns), only_changed=False
        )

    def _step(
        self,
        now_ns: int,
        ticks: list[CloseTick],
        arrivals: list[tuple[int, Signal]],
        out: list[FusedSignal | SourceReliability],
    ) -> None:
        changed = self._changed  # what is counted can change only with what is marked here
        for tick in ticks:
            changed = self._resolve(tick) or changed  # weights moved
        self.clock_ns = max(self.clock_ns, now_ns)
        if self.clock_ns >= self._next_expiry_ns:  # otherwise no live signal has expired
            now = ns_to_datetime(self.clock_ns)
            for key in [k for k, s in self.live.items() if s.expires_at <= now]:
                del self.live[key]
                self.counts["expired"] += 1
                changed = True
            self._next_expiry_ns = min(
                (datetime_to_ns(s.expires_at) for s in self.live.values()), default=_NEVER_NS
            )
        for stamp, signal in arrivals:
            self._admit(signal, stamp)
            changed = True
        if changed:
            self._changed = False
            admission = self._admit_votes()  # the full decision is built only when it changed
            if admission.key != self._last_key:
                self._last_key = admission.key
                self.counts["fused"] += 1
                out.append(self._fuse(self.clock_ns, admission))
        out.extend(self._maybe_snapshot())

    def _admit(self, signal: Signal, stamp: int) -> None:
        """Take in ``signal``, stamped ``stamp`` (its timestamp in ns)."""
        if signal.origin in self.disabled:
            self.counts["signals_disabled"] = self.counts.get("signals_disabled", 0) + 1
            return
        self.counts["signals_in"] += 1
        if stamp < self.clock_ns:
            self.counts["late_signals"] += 1
        entry = float(signal.meta.get("close", float("nan")))
        pending = _Pending(
            signal.origin, signal.timeframe, signal.direction, signal.confidence, entry
        )
        expires_ns = datetime_to_ns(signal.expires_at)
        heapq.heappush(
            self._pending.setdefault(signal.timeframe, []), (expires_ns, self._sequence, pending)
        )
        self._sequence += 1
        if expires_ns <= self.clock_ns:
            self.counts["expired"] += 1
            return
        key = source_key(signal.origin, signal.timeframe)
        if key in self.live:
            self.counts["superseded"] += 1
        self.live[key] = signal
        self._next_expiry_ns = min(self._next_expiry_ns, expires_ns)

    def _resolve(self, tick: CloseTick) -> bool:
        """Record the outcomes whose horizon ended at this close; whether any was recorded."""
        recorded = False
        queue = self._pending.get(tick.timeframe)
        while queue and queue[0][0] <= tick.close_ns:
            _, _, pending = heapq.heappop(queue)
            if not (pending.entry > 0 and tick.close > 0):
                continue
            move = tick.close - pending.entry
            hit = move * pending.direction.sign > 0
            key = self.reliability.record(
                pending.origin, pending.timeframe, pending.confidence, hit
            )
            self._votes.pop(key, None)  # the source's weight moved
            self.counts["resolved"] += 1
            recorded = True
        return recorded

    def _maybe_snapshot(self) -> list[SourceReliability]:
        every = self.config.reliability_every_minutes * NS_PER_MINUTE
        if self._next_snapshot_ns is None:
            self._next_snapshot_ns = (self.clock_ns // every + 1) * every
        if self.clock_ns < self._next_snapshot_ns:
            return []
        self._next_snapshot_ns = (self.clock_ns // every + 1) * every
        return self.reliability.snapshot(
            self.asset, ns_to_datetime(self.clock_ns), only_changed=True
        )

    # --- evaluation ----------------------------------------------------------------------

    def evaluate(self, now_ns: int) -> tuple[FusedSignal, tuple[tuple[str, ...], tuple[str, ...]]]:
        """The fused decision over the live signals now, and the key of what it counted."""
        admission = self._admit_votes()
        return self._fuse(now_ns, admission), admission.key

    def _admit_votes(self) -> _Admission:
        """Which live signals count now (gates checked): cheap, and all the emit key needs."""
        ungated: list[Vote] = []
        gated: list[tuple[Vote, _Gate]] = []
        live, votes = self.live, self._votes
        for key in sorted(live):
            signal = live[key]
            cached = votes.get(key)
            if cached is None or cached[0] is not signal:
                cached = votes[key] = (signal, self._vote(signal), _gate_of(signal))
            _, vote, gate = cached
            if gate is None:
                ungated.append(vote)
            else:
                gated.append((vote, gate))
        reasons: list[str] = []
        admitted = list(ungated)
        blocked: list[str] = []
        if not gated:  # the usual case: the per-timeframe scores only serve the gates
            return _Admission(admitted, reasons, (tuple(sorted(v.signal_id for v in admitted)), ()))
        base_scores = timeframe_scores(ungated)
        for vote, gate in gated:
            if gate_holds(vote.direction, gate.min_score, gate.timeframes, base_scores):
                admitted.append(vote)
                reasons.append(f"gate open for {_label(vote)}: {_gate_text(gate, base_scores)}")
            else:
                blocked.append(vote.signal_id)
                reasons.append(f"gate closed for {_label(vote)}: {_gate_text(gate, base_scores)}")
        key = (tuple(sorted(v.signal_id for v in admitted)), tuple(sorted(blocked)))
        return _Admission(admitted, reasons, key)

    def _vote(self, signal: Signal) -> Vote:
        origin, timeframe = signal.origin, signal.timeframe
        weight = self.reliability.weight(origin, timeframe)
        return Vote(
            signal.signal_id, origin, timeframe, signal.direction, signal.confidence, weight
        )

    def _fuse(self, now_ns: int, admission: _Admission) -> FusedSignal:
        """The full decision with its contributions and reasons over the admitted votes."""
        config = self.config
        admitted = admission.admitted
        reasons = list(admission.reasons)
        score, tf_scores = scores(admitted)
        agreement = consensus(tf_scores, config.timeframe_weights)
        decisive = score if config.decide_on == "score" else agreement
        decision = decide(decisive, config.open_above, config.review_from)
        direction = _direction_of(decisive)
        total_weight = sum(v.weight for v in admitted)
        contributions = [_contribution(v, total_weight) for v in admitted]
        if admitted:
            directions = [v.direction for v in admitted]
            longs, shorts = directions.count(Direction.LONG), directions.count(Direction.SHORT)
            reasons.insert(
                0,
                f"score {score:+.3f} from {len(admitted)} live signals "
                f"({longs} long, {shorts} short); consensus {agreement:+.3f}",
            )
            for c in sorted(contributions, key=_by_share)[:5]:
                reasons.append(
                    f"{c['origin']}@{TIMEFRAME_TEXT[c['timeframe']]} "
                    f"{_DIRECTION_TEXT[c['direction']]} "
                    f"{c['confidence']:.2f} × w{c['weight']:.2f} → {c['share']:+.3f}"
                )
        else:
            reasons.insert(0, "no live signals")
        conflict_pair = find_conflict(admitted, config.conflict_confidence)
        if conflict_pair is not None:
            decision, direction = self._resolve_conflict(
                conflict_pair, admitted, decision, direction, reasons
            )
        veto_text = None
        veto = find_veto(
            direction.sign, tf_scores, config.timeframe_weights, config.veto_confidence
        )
        if veto is not None and decision is not Decision.IGNORE:
            shorter, longer = veto
            veto_text = (
                f"{shorter.value} {tf_scores[shorter]:+.2f} opposes the {longer.value} "
                f"{direction.value} ({tf_scores[longer]:+.2f})"
            )
            decision = Decision(config.veto_decision)
            reasons.append(f"veto: {veto_text} → {decision.value}")
        reasons.append(_band_text(decisive, decision, config, config.decide_on))
        fused = FusedSignal(
            fused_id=make_signal_id("fused", self.asset, now_ns),
            asset=self.asset,
            timestamp=ns_to_datetime(now_ns),
            score=score,
            direction=direction,
            decision=decision,
            contributions=contributions,
            timeframe_scores={TIMEFRAME_TEXT[tf]: s for tf, s in tf_scores.items()},
            consensus=agreement,
            conflict=conflict_pair is not None,
            veto=veto_text,
            reasons=reasons,
        )
        return fused

    def _resolve_conflict(
        self,
        pair: tuple[Vote, Vote],
        admitted: list[Vote],
        decision: Decision,
        direction: Direction,
        reasons: list[str],
    ) -> tuple[Decision, Direction]:
        long_vote, short_vote = pair
        text = f"conflict: {_label(long_vote)} long {long_vote.confidence:.2f} vs " + (
            f"{_label(short_vote)} short {short_vote.confidence:.2f}"
        )
        if self.config.conflict_policy == "hold":
            reasons.append(f"{text} → hold (stand aside)")
            return Decision.IGNORE, Direction.FLAT
        total = sum(v.weight * v.confidence for v in admitted)
        against = sum(
            v.weight * v.confidence for v in admitted if v.direction.sign == -direction.sign
        )
        ratio = against / total if total > 0 and direction is not Direction.FLAT else 1.0
        reasons.append(f"{text} → hedge: trade the net {direction.value}, hedge ratio {ratio:.2f}")
        return decision, direction

    def stats(self) -> dict[str, Any]:
        return dict(self.counts)


def _contribution(vote: Vote, total_weight: float) -> dict[str, Any]:
    """The fields of ``vote``'s :class:`~schemas.signals.Contribution`, validated with the
    fused record at once: one call into pydantic's core per decision, not one per vote."""
    signed = vote.signed
    return {
        "origin": vote.origin,
        "timeframe": vote.timeframe,
        "direction": vote.direction,
        "confidence": vote.confidence,
        "weight": vote.weight,
        "signed": signed,
        "share": vote.weight * signed / total_weight if total_weight > 0 else 0.0,
        "signal_id": vote.signal_id,
    }


def _by_share(contribution: dict[str, Any]) -> tuple[float, str]:
    """Largest share first, ties by signal id: the contributions the reasons name."""
    return -abs(contribution["share"]), contribution["signal_id"]


def _direction_of(score: float) -> Direction:
    if score > 0:
        return Direction.LONG
    if score < 0:
        return Direction.SHORT
    return Direction.FLAT


def _label(vote: Vote) -> str:
    return f"{vote.origin}@{vote.timeframe.value}"


def _gate_text(gate: _Gate, scores: dict[Timeframe, float]) -> str:
    parts = []
    for tf in gate.timeframes:
        have = f"{scores[tf]:+.2f}" if tf in scores else "none"
        parts.append(f"{tf.value} {have}")
    return f"needs ≥ {gate.min_score:.2f} on each; has " + ", ".join(parts)


def _band_text(value: float, decision: Decision, config: FusionConfig, basis: str) -> str:
    bands = f"open > {config.open_above}, review ≥ {config.review_from}"
    return f"decision {decision.value}: |{basis}| = {abs(value):.3f} ({bands})"


def fuse_all(
    asset: str, config: FusionConfig, batches: Iterable[SignalBatch]
) -> list[FusedSignal | SourceReliability]:
    """Run a whole sequence of batches through a fresh core (tests, evaluation)."""
    core = FusionCore(asset, config)
    out: list[FusedSignal | SourceReliability] = []
    for batch in batches:
        out.extend(core.process(batch))
    out.extend(core.flush())
    return out
