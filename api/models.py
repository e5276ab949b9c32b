"""Response and request bodies of the API, as they appear in its OpenAPI schema.

Records reuse the canonical schemas (``FusedSignal``, ``Signal``, ``Order``, ``Fill``,
``Position``, ``AuditRecord``); the models here add what a client needs around them: the
cursor of each item, pages, review items and decisions, health and errors.

>>> ReviewDecisionIn(decision="approve", comment="  spread is fine ").comment
'spread is fine'
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.params import Comment
from operators.portfolio.book import EquityPoint
from schemas.common import DEFAULT_PORTFOLIO, Direction, UtcDatetime
from schemas.control import ControlApplied, ControlOverrides, ControlVersion
from schemas.operations import ManualAction
from schemas.records import AuditRecord
from schemas.signals import FusedSignal, Signal
from schemas.trading import Fill, Order, Position


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- errors ------------------------------------------------------------------------------------


class ErrorResponse(_Out):
    """Any refusal but a validation error: 401, 403, 404, 409, 429, 503."""

    detail: str = Field(description="What went wrong, in words")


class FieldError(_Out):
    loc: list[str | int] = Field(description="Where: body/query/path/header, then the field")
    msg: str
    type: str


class ValidationErrorResponse(_Out):
    """422: the request does not fit; ``detail`` names every offending field."""

    message: str = Field(description="One line naming the fields, e.g. 'query.limit: ...'")
    detail: list[FieldError]


# --- signals -----------------------------------------------------------------------------------


class FusedSignalOut(FusedSignal):
    """A fused decision with its position in the stream (``cursor`` = SSE event id)."""

    cursor: str = Field(description="Opaque position: resume after this item")


class FusedSignalPage(_Out):
    items: list[FusedSignalOut]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null when the end was reached"
    )


class SourceSignalOut(Signal):
    """One generator's signal with its position in the history."""

    cursor: str


class SourceSignalPage(_Out):
    items: list[SourceSignalOut]
    next_cursor: str | None


ReviewStatus = Literal["pending", "approved", "rejected", "expired"]


class ReviewItem(_Out):
    """A REVIEW-band fused signal in the queue and what a person decided about it."""

    fused_id: str
    asset: str
    timestamp: UtcDatetime
    score: float
    direction: Direction
    reasons: list[str]
    status: ReviewStatus
    reviewer: str | None = None
    comment: str | None = None
    decided_at: UtcDatetime | None = None
    cursor: str


class ReviewPage(_Out):
    items: list[ReviewItem]
    next_cursor: str | None


class FusedSignalDetail(FusedSignalOut):
    """A fused decision with the generator signals it was made of and its review, if any."""

    signals: list[Signal] = Field(description="The contributing signals still in the store")
    review: ReviewItem | None = None


class ReviewDecisionIn(BaseModel):
    """A reviewer's call on a pending item."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    comment: Comment = Field(
        description="Why: 1-2000 characters, not blank, no control characters but tab and "
        "line breaks"
    )


class ReviewDecisionOut(_Out):
    review: ReviewItem
    audit: AuditRecord = Field(description="The audit record of this decision")
    action: ManualAction = Field(description="The decision as the trading core's manual action")


# --- trading control ---------------------------------------------------------------------------


class TradingControlIn(BaseModel):
    """A person's kill-switch command for every running flow on this store."""

    model_config = ConfigDict(extra="forbid")

    command: Literal["halt", "reduce", "resume"] = Field(
        description="halt: cancel working orders, no new entries; reduce: positions may only "
        "shrink; resume: trade again"
    )
    reason: Comment = Field(description="Why (1-2000 characters, not blank); audited")


class TradingControlOut(_Out):
    action: ManualAction = Field(description="The command as the trading core's manual action")
    audit: AuditRecord = Field(description="Its audit record (who, why, through which channel)")


class ClosePositionIn(BaseModel):
    """Close a position by hand: a reduce-only order for all of it, through guards and router."""

    model_config = ConfigDict(extra="forbid")

    asset: str = Field(min_length=1, max_length=64, description="The instrument, e.g. BTC/USDT")
    portfolio: str = Field(
        default=DEFAULT_PORTFOLIO, min_length=1, max_length=64, description="Portfolio id"
    )
    reason: Comment = Field(description="Why (1-2000 characters, not blank); audited")


# --- control room --------------------------------------------------------------------------------

_CHANGE_ID = Field(
    default=None,
    min_length=1,
    max_length=64,
    pattern=r"^[A-Za-z0-9._:-]+$",
    description="Idempotency key: a retried request with the same id records one version",
)


class ControlChangeIn(BaseModel):
    """A change of the running configuration; unset parts stay as they are."""

    model_config = ConfigDict(extra="forbid")

    fusion: dict[str, Any] = Field(
        default_factory=dict,
        description="FusionConfig fields, e.g. {'open_above': 0.8, 'priors': {'rules:x': 2}}",
    )
    risk: dict[str, Any] = Field(
        default_factory=dict, description="RiskConfig fields, e.g. {'max_open_positions': 3}"
    )
    disable: list[str] = Field(default_factory=list, description="Signal origins to switch off")
    enable: list[str] = Field(default_factory=list, description="Signal origins to switch on")
    reason: Comment = Field(description="Why (1-2000 characters, not blank); audited")
    change_id: str | None = _CHANGE_ID


class ControlRevertIn(BaseModel):
    """Restore the values of an earlier version (0: the configuration file) as a new version."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0, description="The version whose values to restore")
    reason: Comment = Field(description="Why (1-2000 characters, not blank); audited")
    change_id: str | None = _CHANGE_ID


class ControlVersionOut(ControlVersion):
    applied: ControlApplied | None = Field(
        default=None, description="What a running flow made of it (None: no flow took it yet)"
    )


class ControlStateOut(_Out):
    """The configuration in force: version, effective values, overrides and known sources."""

    version: int = Field(description="0: the configuration file, no change made")
    fusion: dict[str, Any] = Field(description="Effective FusionConfig")
    risk: dict[str, Any] = Field(description="Effective RiskConfig")
    sources: list[str] = Field(description="Signal origins of the run's generators")
    disabled: list[str] = Field(description="Origins switched off")
    overrides: ControlOverrides = Field(description="What differs from the configuration file")
    latest: ControlVersionOut | None = Field(description="The version in force, if any")


class ControlVersionsOut(_Out):
    items: list[ControlVersionOut] = Field(description="Every version, newest first")


# --- trading -----------------------------------------------------------------------------------


class RunOut(_Out):
    run_id: str
    command: str
    started_at: UtcDatetime
    finished_at: UtcDatetime | None
    args: dict[str, Any] | None
    summary: dict[str, Any] | None


class RunList(_Out):
    items: list[RunOut]


class PositionList(_Out):
    run_id: str | None = Field(description="The run shown; null when the store has none")
    items: list[Position]


class OrderList(_Out):
    run_id: str | None
    total: int = Field(description="Orders matching the filters, all pages together")
    items: list[Order]


class FillList(_Out):
    run_id: str | None
    total: int
    items: list[Fill]


class EquityList(_Out):
    run_id: str | None
    items: list[EquityPoint]


# --- audit -------------------------------------------------------------------------------------


class AuditPage(_Out):
    items: list[AuditRecord]
    next_after_seq: int | None = Field(
        description="Pass as ?after_seq= for the next page; null at the end of the chain"
    )


class VerifyOut(_Out):
    ok: bool
    message: str
    checked: int
    last_seq: int | None
    bad_seq: int | None
    reason: str | None
    key_id: str | None = Field(
        default=None, description="Audit key the chain was checked with (None: unkeyed sha256)"
    )
    anchored_seq: int | None = Field(
        default=None, description="Seq of the checkpoint kept outside the store it matched"
    )
    findings: list[str] = Field(
        default_factory=list, description="Failures not tied to one record (ledger cross-check)"
    )
    notes: list[str] = Field(
        default_factory=list, description="What this verification could not cover, and why"
    )


# --- health ------------------------------------------------------------------------------------


class FeedHealth(_Out):
    symbol: str
    timeframe: str
    last_open: UtcDatetime
    last_close_time: UtcDatetime = Field(description="When the last candle closed")
    close: float | None
    lag_seconds: float = Field(description="Now minus the last candle's close time")
    stale: bool = Field(description="No closed candle for more than the staleness allowance")


class FeedConnection(_Out):
    """A live source's latest report for one symbol (from the store's ``feed_status``)."""

    run_id: str
    source: str
    symbol: str
    status: str = Field(description="live | catching_up | stale | disconnected | closed")
    reported_at: UtcDatetime
    silence_s: float | None = Field(description="Seconds since the symbol's last message")
    event: str = Field(description="heartbeat, status, or a note such as a gap filled")
    counters: dict[str, int] = Field(
        description="Running totals: messages, reconnects, gaps_filled, rows_backfilled, …"
    )


class DeadLetterCount(_Out):
    reason: str
    count: int


class HealthOut(_Out):
    status: Literal["ok", "degraded", "empty"] = Field(
        description="empty: no candles yet; degraded: some feed is stale; ok otherwise"
    )
    checked_at: datetime
    feeds: list[FeedHealth]
    connections: list[FeedConnection] = Field(
        default_factory=list, description="Live sources' latest status and counters per symbol"
    )
    dead_letters: int
    dead_letters_by_reason: list[DeadLetterCount]
    late_trades: int
    running: list[str] = Field(description="Runs started and not finished")
    last_run: RunOut | None
