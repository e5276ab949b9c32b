"""Operational records: human actions, the review queue, trading-state changes, the equity
curve and the trading core's closing summary. Frozen pydantic models like every canonical record.

>>> from datetime import UTC, datetime
>>> ManualAction(action_id="a1", kind="set_trading_state", actor="ops@desk",
...              ts=datetime(2022, 1, 1, tzinfo=UTC))
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for ManualAction
  Value error, set_trading_state needs the field 'state' ...
...
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.common import DEFAULT_PORTFOLIO, Direction, UtcDatetime
from schemas.trading import TradingState


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class ManualActionKind(StrEnum):
    APPROVE_REVIEW = "approve_review"
    REJECT_REVIEW = "reject_review"
    SET_TRADING_STATE = "set_trading_state"
    CANCEL_ORDER = "cancel_order"
    CLOSE_POSITION = "close_position"


_REQUIRED: dict[ManualActionKind, str] = {
    ManualActionKind.APPROVE_REVIEW: "fused_id",
    ManualActionKind.REJECT_REVIEW: "fused_id",
    ManualActionKind.SET_TRADING_STATE: "state",
    ManualActionKind.CANCEL_ORDER: "order_id",
    ManualActionKind.CLOSE_POSITION: "asset",
}


class ManualAction(_Record):
    """Something a person did: approve/reject a queued review, switch the trading state,
    cancel an order, close a position. ``ts`` is when it happened (event time)."""

    action_id: str = Field(min_length=1)
    kind: ManualActionKind
    actor: str = Field(min_length=1, description="Who acted (user id, e-mail)")
    ts: UtcDatetime
    fused_id: str | None = None
    order_id: str | None = None
    asset: str | None = None
    state: TradingState | None = None
    reason: str = ""
    portfolio: str | None = Field(
        default=None, description="The portfolio it applies to; None = every portfolio"
    )

    @model_validator(mode="after")
    def _has_target(self) -> ManualAction:
        field = _REQUIRED[self.kind]
        if getattr(self, field) is None:
            raise ValueError(f"{self.kind.value} needs the field '{field}'")
        return self


class ManualActionResult(_Record):
    """What became of a manual action (audited with the action itself)."""

    action: ManualAction
    applied: bool
    detail: str
    ts: UtcDatetime = Field(description="Event time at which the core applied it")
    portfolio: str = Field(default=DEFAULT_PORTFOLIO, description="Portfolio id")


class ReviewStatus(StrEnum):
    QUEUED = "queued"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class ReviewTicket(_Record):
    """A REVIEW-band decision waiting for a person, and what became of it."""

    fused_id: str
    asset: str
    direction: Direction
    score: float
    status: ReviewStatus
    reasons: list[str] = Field(default_factory=list)
    queued_at: UtcDatetime
    expires_at: UtcDatetime
    updated_at: UtcDatetime
    actor: str | None = None
    portfolio: str = Field(default=DEFAULT_PORTFOLIO, description="Portfolio id")


class TradingSummary(_Record):
    """The core's counters at the end of its input (what it saw, decided and refused)."""

    ts: UtcDatetime
    counters: dict[str, Any]
    portfolio: str = Field(default=DEFAULT_PORTFOLIO, description="Portfolio id")


class EquityPoint(BaseModel):
    """The portfolio's value at one event time (sampled on a fixed interval)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ts: UtcDatetime
    equity: Decimal
    cash: Decimal
    realized_pnl: Decimal = Field(description="Cumulative, gross of fees")
    unrealized_pnl: Decimal
    fees_paid: Decimal = Field(description="Cumulative")
    gross_exposure: Decimal = Field(ge=0, description="Σ |quantity| × mark")
    net_exposure: Decimal = Field(description="Σ quantity × mark")
    exposure: dict[str, Decimal] = Field(default_factory=dict, description="Signed, per asset")
    open_positions: int = Field(ge=0)
    drawdown_pct: float = Field(ge=0, description="Below the running peak of equity, in %")
    portfolio: str = Field(default=DEFAULT_PORTFOLIO, description="Portfolio id")


class TradingStateChange(BaseModel):
    """A switch of the effective trading state, with what caused it (audited)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    previous: TradingState
    current: TradingState
    cause: str  # a RiskReason value for a breaker, "manual" for a human, "expired" on expiry
    detail: str
    timestamp: UtcDatetime
    portfolio: str = Field(default=DEFAULT_PORTFOLIO, description="Portfolio id")


class SlaKind(StrEnum):
    """Which service level (see ``metrics:`` in the configuration)."""

    FEED_UPTIME = "feed_uptime"  # a feed's live share of the SLA window, per source/symbol
    FUSED_LATENCY_P99 = "fused_latency_p99"  # p99 ingestion → fused signal, seconds


class SlaBreach(BaseModel):
    """A service level just went below its target (told once per breach, again after recovery)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sla: SlaKind
    subject: str = Field(description="The feed (source/symbol) or 'fused' for the latency")
    value: float = Field(description="The measured figure (a ratio, or seconds)")
    threshold: float = Field(description="The configured target it missed")
    ts: UtcDatetime = Field(description="Wall-clock time of the check that found it")
