"""Each source's realized reliability and the bounded weight the orchestrator gives it.

A *source* is one generator on one timeframe (``origin@timeframe``). When a signal's horizon
has passed, its outcome is known: a **hit** when the price moved its way (close at expiry vs close
at emission; no move is a miss). Its forecast probability of being right is ``p = (1 + c) / 2``
(see :mod:`operators.signals.confidence`), scored with the Brier loss ``(p − hit)²``.

Weight update (multiplicative weights on the Brier excess over a coin flip, 0.25)::

    log m ← clip(log m − η · ((p − hit)² − 0.25), log floor, log cap)
    weight = prior · m

A source that beats a coin flip in Brier terms gains weight, one that does worse loses it, and
the clip keeps every weight within ``[floor, cap] × prior`` — no source can take over, and a
source that was bad can recover. Hit rate, mean Brier score and a reliability curve (binned
``p`` against observed hit rate) are kept per source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from operators.fusion.config import FusionConfig
from schemas.common import Timeframe
from schemas.signals import SourceReliability

COIN_FLIP_BRIER = 0.25
TIMEFRAME_TEXT = {tf: tf.value for tf in Timeframe}
"""Each timeframe's text (enum ``.value`` is slow to read on fusion's hot path)."""


def source_key(origin: str, timeframe: Timeframe) -> str:
    """``origin@timeframe``.

    >>> source_key("rules:rsi_reversal_long", Timeframe.M15)
    'rules:rsi_reversal_long@15m'
    """
    return f"{origin}@{TIMEFRAME_TEXT[timeframe]}"


def probability_right(confidence: float) -> float:
    """Probability a signal is right given its confidence: ``(1 + c) / 2``.

    >>> probability_right(0.0), probability_right(0.6)
    (0.5, 0.8)
    """
    return (1.0 + confidence) / 2.0


_SCALAR_FIELDS = (
    "origin",
    "timeframe",
    "prior",
    "log_multiplier",
    "resolved",
    "hits",
    "brier_sum",
    "predicted_sum",
)
_BIN_FIELDS = ("bin_count", "bin_predicted", "bin_hits")
"""A :class:`SourceRecord`'s fields in the order its snapshot tuple holds them."""


@dataclass(slots=True)
class SourceRecord:
    origin: str
    timeframe: Timeframe
    prior: float
    log_multiplier: float = 0.0
    resolved: int = 0
    hits: int = 0
    brier_sum: float = 0.0
    predicted_sum: float = 0.0
    bin_count: list[int] = field(default_factory=list)
    bin_predicted: list[float] = field(default_factory=list)
    bin_hits: list[int] = field(default_factory=list)

    @property
    def weight(self) -> float:
        return self.prior * math.exp(self.log_multiplier)

    def __getstate__(self) -> tuple[object, ...]:
        """The fields as one flat tuple (no field names, lists as tuples): a record is in every
        symbol's fusion snapshot once per source."""
        scalars = (getattr(self, name) for name in _SCALAR_FIELDS)
        return (*scalars, *(tuple(getattr(self, name)) for name in _BIN_FIELDS))

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        names = _SCALAR_FIELDS + _BIN_FIELDS
        if len(state) == 2 and isinstance(state[1], dict):  # the earlier form: (None, slots)
            state = tuple(state[1][name] for name in names)
        for name, value in zip(names, state, strict=True):
            setattr(self, name, list(value) if name in _BIN_FIELDS else value)


class ReliabilityTracker:
    """Per-source outcomes → bounded weights and calibration, for one asset.

    >>> tracker = ReliabilityTracker(FusionConfig(learning_rate=1.0))
    >>> tracker.weight("stat:z", Timeframe.H1)
    1.0
    >>> tracker.record("stat:z", Timeframe.H1, confidence=0.6, hit=True)   # Brier 0.04
    'stat:z@1h'
    >>> round(tracker.weight("stat:z", Timeframe.H1), 4)                   # e^(0.21)
    1.2337
    >>> for _ in range(50):
    ...     _ = tracker.record("stat:z", Timeframe.H1, confidence=0.6, hit=False)
    >>> tracker.weight("stat:z", Timeframe.H1)                             # the floor
    0.5
    """

    def __init__(self, config: FusionConfig) -> None:
        self.config = config
        self.sources: dict[str, SourceRecord] = {}
        self.changed: set[str] = set()
        # Current weight by (origin, timeframe): read for every live signal at every close,
        # recomputed only when that source's outcome or the configuration changes.
        self._weights: dict[tuple[str, Timeframe], float] = {}

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_weights", None)  # a cache, derived from the sources: not state
        state["sources"] = list(self.sources.values())  # the keys follow from the records
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        records = state["sources"]
        if isinstance(records, list):
            state = {**state, "sources": {_key_of(r): r for r in records}}
        self.__dict__.update(state)
        self._weights = {}

    def _source(self, origin: str, timeframe: Timeframe, key: str | None = None) -> SourceRecord:
        """The record of ``origin@timeframe`` (``key``, when the caller has it), made at need."""
        key = source_key(origin, timeframe) if key is None else key
        record = self.sources.get(key)
        if record is None:
            bins = self.config.calibration_bins
            record = SourceRecord(
                origin,
                timeframe,
                self.config.prior_for(origin),
                bin_count=[0] * bins,
                bin_predicted=[0.0] * bins,
                bin_hits=[0] * bins,
            )
            self.sources[key] = record
        return record

    def reconfigure(self, config: FusionConfig) -> None:
        """New priors and bounds (the control room): every source's prior is re-derived and
        its multiplier clipped into the new ``[floor, cap]``; what was learned stays."""
        self.config = config
        self._weights = {}
        lo, hi = math.log(config.weight_floor), math.log(config.weight_cap)
        for record in self.sources.values():
            record.prior = config.prior_for(record.origin)
            record.log_multiplier = min(hi, max(lo, record.log_multiplier))
            self.changed.add(source_key(record.origin, record.timeframe))

    def weight(self, origin: str, timeframe: Timeframe) -> float:
        """Current weight of a source (its prior until outcomes arrive)."""
        weight = self._weights.get((origin, timeframe))
        if weight is None:
            weight = self._weights[(origin, timeframe)] = self._source(origin, timeframe).weight
        return weight

    def record(self, origin: str, timeframe: Timeframe, confidence: float, hit: bool) -> str:
        """Fold one resolved signal into the source's record and weight; the source's key."""
        key = source_key(origin, timeframe)
        record = self._source(origin, timeframe, key)
        p = probability_right(confidence)
        loss = (p - float(hit)) ** 2
        config = self.config
        lo, hi = math.log(config.weight_floor), math.log(config.weight_cap)
        step = config.learning_rate * (loss - COIN_FLIP_BRIER)
        record.log_multiplier = min(hi, max(lo, record.log_multiplier - step))
        record.resolved += 1
        record.hits += int(hit)
        record.brier_sum += loss
        record.predicted_sum += p
        index = _bin_index(p, len(record.bin_count))
        record.bin_count[index] += 1
        record.bin_predicted[index] += p
        record.bin_hits[index] += int(hit)
        self._weights.pop((origin, timeframe), None)
        self.changed.add(key)
        return key

    def snapshot(self, asset: str, ts: datetime, *, only_changed: bool) -> list[SourceReliability]:
        """Reliability records of the sources (changed since the last snapshot, or all)."""
        keys = sorted(self.changed if only_changed else self.sources)
        self.changed = set()
        return [_snapshot(asset, key, self.sources[key], ts) for key in keys]


def _key_of(record: SourceRecord) -> str:
    return source_key(record.origin, record.timeframe)


def _bin_index(p: float, bins: int) -> int:
    """Bins of equal width over p ∈ [0.5, 1]."""
    position = (p - 0.5) / 0.5 * bins + 1e-9  # edges belong to the upper bin despite rounding
    return min(bins - 1, max(0, int(position)))


def _snapshot(asset: str, key: str, record: SourceRecord, ts: datetime) -> SourceReliability:
    bins = len(record.bin_count)
    calibration = [  # CalibrationBin fields, validated with the record at once
        {
            "low": 0.5 + 0.5 * i / bins,
            "high": 0.5 + 0.5 * (i + 1) / bins,
            "count": count,
            "mean_predicted": (record.bin_predicted[i] / count) if count else None,
            "observed": (record.bin_hits[i] / count) if count else None,
        }
        for i, count in enumerate(record.bin_count)
    ]
    n = record.resolved
    return SourceReliability(
        asset=asset,
        source=key,
        origin=record.origin,
        timeframe=record.timeframe,
        ts=ts,
        prior=record.prior,
        weight=record.weight,
        resolved=n,
        hits=record.hits,
        hit_rate=record.hits / n if n else None,
        brier=record.brier_sum / n if n else None,
        mean_predicted=record.predicted_sum / n if n else None,
        calibration=calibration,
    )
