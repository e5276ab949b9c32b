"""``FusionConfig``: weights, conflict policy, multi-timeframe consensus and decision bands.

>>> cfg = FusionConfig()
>>> cfg.open_above, cfg.review_from, cfg.conflict_policy
(0.7, 0.5, 'hold')
>>> cfg.prior_for("rules:btc_long"), FusionConfig(priors={"rules:btc_long": 2}).prior_for(
...     "rules:btc_long")
(1.0, 2.0)
>>> FusionConfig(review_from=0.8)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for FusionConfig
review_from
  Value error, review_from (0.8) must be below open_above (0.7) ...
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from operators.snapshot_encoding import PicklesAsChanges
from schemas.common import Timeframe


class FusionConfig(PicklesAsChanges, BaseModel):
    """How the orchestrator turns live signals into one decision per asset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    priors: dict[str, float] = Field(
        default_factory=lambda: {"rules": 1.0, "stat": 1.0, "ml": 1.0},
        description="prior weight by origin or origin prefix ('rules' covers 'rules:x')",
    )
    default_prior: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    learning_rate: float = Field(
        default=0.5, ge=0, le=10, description="multiplicative-weights step on Brier excess"
    )
    weight_floor: float = Field(default=0.5, gt=0, le=1, description="min weight / prior")
    weight_cap: float = Field(default=2.0, ge=1, le=100, description="max weight / prior")
    conflict_confidence: float = Field(
        default=0.6, gt=0, le=1, description="opposing signals both at least this → conflict"
    )
    conflict_policy: Literal["hold", "hedge"] = "hold"
    timeframe_weights: dict[Timeframe, float] = Field(
        default_factory=lambda: {Timeframe.M15: 1.0, Timeframe.H1: 1.0, Timeframe.H4: 1.0},
        description="main timeframes of the consensus and their weights",
    )
    veto_confidence: float = Field(
        default=0.6, gt=0, le=1, description="a shorter timeframe opposing this much vetoes"
    )
    veto_decision: Literal["ignore", "review"] = "ignore"
    open_above: float = Field(default=0.7, gt=0, le=1)
    review_from: float = Field(default=0.5, gt=0, le=1)
    decide_on: Literal["score", "consensus"] = "score"
    calibration_bins: int = Field(default=5, ge=1, le=100)
    reliability_every_minutes: int = Field(default=240, ge=1)

    @field_validator("priors")
    @classmethod
    def _positive_priors(cls, value: dict[str, float]) -> dict[str, float]:
        for origin, prior in value.items():
            if not (math.isfinite(prior) and prior > 0):
                raise ValueError(f"prior of {origin!r} must be a finite number > 0, got {prior}")
        return value

    @field_validator("timeframe_weights")
    @classmethod
    def _weights(cls, value: dict[Timeframe, float]) -> dict[Timeframe, float]:
        if not value:
            raise ValueError("at least one main timeframe is required")
        for timeframe, weight in value.items():
            if not (math.isfinite(weight) and weight > 0):
                raise ValueError(f"weight of {timeframe.value} must be > 0, got {weight}")
        return dict(sorted(value.items(), key=lambda item: item[0].seconds))

    @field_validator("review_from")
    @classmethod
    def _bands_ordered(cls, value: float, info: ValidationInfo) -> float:
        open_above = info.data.get("open_above")
        if open_above is not None and not value < open_above:
            raise ValueError(f"review_from ({value}) must be below open_above ({open_above})")
        return value

    def prior_for(self, origin: str) -> float:
        """Prior of an origin: the longest configured prefix (``rules`` < ``rules:x``) wins."""
        best, best_len = self.default_prior, -1
        for key, prior in self.priors.items():
            if (origin == key or origin.startswith(key + ":")) and len(key) > best_len:
                best, best_len = prior, len(key)
        return float(best)
