"""Settings of the trade and candle validators, checked once at start-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from operators.snapshot_encoding import PicklesAsChanges
from schemas.common import UtcDatetime


class ValidationConfig(PicklesAsChanges, BaseModel):
    """Bounds and windows of the validators. A bad value fails at start-up naming the field.

    >>> ValidationConfig().outlier_window
    500
    >>> ValidationConfig(outlier_threshold=0)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for ValidationConfig
    outlier_threshold
      Input should be greater than 0 [type=greater_than, input_value=0, input_type=int]
    ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_timestamp: UtcDatetime = Field(
        default=datetime(1970, 1, 1, tzinfo=UTC),
        description=(
            "Event times before this are implausible; no asset class sets a minimum year, a "
            "symbol's own range comes from its instrument (instruments.symbols.X.min_timestamp)"
        ),
    )
    max_timestamp: UtcDatetime = Field(
        default=datetime(2100, 1, 1, tzinfo=UTC),
        description="Event times after this are implausible (a unit mistake, a corrupt field)",
    )
    max_time_jump: timedelta = Field(
        default=timedelta(days=1),
        gt=timedelta(0),
        description="How far past the latest accepted event time of its stream a row may lie",
    )
    resync_after: int = Field(
        default=100,
        ge=1,
        description=(
            "Consecutive rows rejected as a time jump or a price outlier, mutually consistent, "
            "after which the validator accepts them as the stream's new time or price level"
        ),
    )
    max_price: float = Field(default=1e12, gt=0, description="Prices above this are implausible")
    max_amount: float = Field(default=1e15, gt=0, description="Sizes above this are implausible")
    dedupe_window: int = Field(
        default=100_000, ge=1, description="Accepted trade ids remembered per symbol"
    )
    outlier_window: int = Field(
        default=500, ge=10, description="Recent accepted prices the robust z-score uses"
    )
    outlier_min_history: int = Field(
        default=50, ge=5, description="Accepted prices needed before prices are judged"
    )
    outlier_threshold: float = Field(
        default=10.0, gt=0, description="|price − median| / (1.4826·MAD) above this is an outlier"
    )
    outlier_min_relative_scale: float = Field(
        default=1e-4,
        ge=0,
        description=(
            "Floor of the scale as a fraction of the median, so a window of identical prices "
            "(MAD 0) does not flag every tick"
        ),
    )

    outlier_policy: Literal["flag", "reject"] = Field(
        default="flag",
        description=(
            "What a price outlier becomes: 'flag' keeps the venue's trade and records a "
            "quality flag (rejected only when a second source disagrees); 'reject' "
            "dead-letters it"
        ),
    )
    second_source_threshold_bps: float = Field(
        default=50.0,
        gt=0,
        description=(
            "A flagged price further than this (basis points of the mid) from another "
            "source's latest price of the symbol is rejected as disputed"
        ),
    )
    second_source_max_skew: timedelta = Field(
        default=timedelta(seconds=5),
        ge=timedelta(0),
        description="How far apart in event time two sources' prices may be to be compared",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ValidationConfig:
        if self.max_timestamp <= self.min_timestamp:
            raise ValueError(
                f"max_timestamp {self.max_timestamp.isoformat()} must be after "
                f"min_timestamp {self.min_timestamp.isoformat()}"
            )
        if self.outlier_min_history > self.outlier_window:
            raise ValueError(
                f"outlier_min_history {self.outlier_min_history} must not exceed "
                f"outlier_window {self.outlier_window}"
            )
        return self
