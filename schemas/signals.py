"""Signals from the generators and the fused decision per asset."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.common import Direction, Frozen, Timeframe, UtcDatetime


def make_signal_id(*parts: object) -> str:
    """Deterministic id from the values that define a signal: same input → same id.

    >>> make_signal_id("rules:ema_cross", "BTC/USDT", "15m", 1640995200)
    'sig-...'
    """
    text = "|".join(map(str, parts))
    return "sig-" + hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


class Signal(Frozen):
    """One generator's opinion about one asset on one timeframe."""

    signal_id: str = Field(min_length=1, description="Deterministic: same input → same id")
    asset: str = Field(min_length=1)
    direction: Direction
    confidence: float = Field(ge=0.0, le=1.0)
    timeframe: Timeframe
    origin: str = Field(min_length=1, description="Generator that produced it, e.g. rules:rsi")
    meta: dict[str, Any] = Field(default_factory=dict, description="Values the generator used")
    timestamp: UtcDatetime = Field(description="Event time the signal refers to")
    expires_at: UtcDatetime = Field(description="After this instant the signal never counts")

    @model_validator(mode="after")
    def _expiry_after_timestamp(self) -> Signal:
        if self.expires_at <= self.timestamp:
            raise ValueError(
                f"expires_at {self.expires_at.isoformat()} must be after "
                f"timestamp {self.timestamp.isoformat()}"
            )
        return self

    def is_live(self, now: datetime) -> bool:
        return self.timestamp <= now < self.expires_at


class Decision(StrEnum):
    """Decision band of a fused score."""

    OPEN = "open"
    REVIEW = "review"
    IGNORE = "ignore"


class Contribution(Frozen):
    """What one source added to a fused score."""

    origin: str
    timeframe: Timeframe
    direction: Direction
    confidence: float = Field(ge=0.0, le=1.0)
    weight: float = Field(ge=0.0)
    signed: float = Field(description="direction sign × confidence")
    share: float = Field(description="weight·signed / Σ weight: its part of the score")
    signal_id: str


class FusedSignal(Frozen):
    """One decision per asset with every source's contribution and the reasons."""

    fused_id: str
    asset: str
    timestamp: UtcDatetime
    score: float = Field(ge=-1.0, le=1.0, description="Σ w·c / Σ w, signed: >0 long, <0 short")
    direction: Direction
    decision: Decision
    contributions: list[Contribution] = Field(default_factory=list)
    timeframe_scores: dict[str, float] = Field(default_factory=dict)
    consensus: float = Field(default=0.0, ge=-1.0, le=1.0)
    conflict: bool = False
    veto: str | None = None
    reasons: list[str] = Field(default_factory=list)


class CalibrationBin(BaseModel):
    model_config = ConfigDict(frozen=True)

    low: float
    high: float
    count: int
    mean_predicted: float | None
    observed: float | None


class SourceReliability(BaseModel):
    """A snapshot of one source's live track record and current weight (one per asset)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    asset: str
    source: str
    origin: str
    timeframe: Timeframe
    ts: UtcDatetime
    prior: float = Field(gt=0)
    weight: float = Field(gt=0)
    resolved: int = Field(ge=0)
    hits: int = Field(ge=0)
    hit_rate: float | None = Field(default=None, ge=0, le=1)
    brier: float | None = Field(default=None, ge=0, le=1)
    mean_predicted: float | None = Field(default=None, ge=0, le=1)
    calibration: list[CalibrationBin] = Field(default_factory=list)


class FusionProgress(Frozen):
    """Fusion has emitted every decision for ``asset`` up to (not after) ``ts``.

    A watermark on the fused-signal stream: the trading core may process market data of the
    asset known before ``ts`` without waiting for the next decision (which fusion emits only
    when something changes).
    """

    asset: str
    ts: UtcDatetime
