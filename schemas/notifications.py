"""Notifications: what Quorum tells people, and what became of each attempt to tell them.

A :class:`Notification` is derived from a flow record (a decision waiting for review, a trading
state switch, a feed going stale or recovering, a fill) or made by a command (the daily report,
a test message). Its ``key`` identifies the underlying fact, so the same fact re-emitted after a
crash or reported twice is sent once.

>>> from datetime import UTC, datetime
>>> n = Notification(event="fill", key="fill:f1", title="Filled", body="buy 0.5 BTC/USDT",
...                  ts=datetime(2022, 1, 1, tzinfo=UTC))
>>> n.severity, n.link is None
(<Severity.INFO: 'info'>, True)
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from schemas.common import Frozen, UtcDatetime


class NotificationEvent(StrEnum):
    """What happened; recipients subscribe to events by these names."""

    REVIEW_PENDING = "review_pending"  # a fused decision entered the REVIEW band
    TRADING_STATE = "trading_state"  # HALTED / REDUCING / ACTIVE switch
    FEED_STALE = "feed_stale"  # a feed went stale or disconnected
    FEED_RECOVERED = "feed_recovered"  # it is live again
    FILL = "fill"
    SLA_BREACH = "sla_breach"  # feed uptime or fused-signal latency missed its target
    DAILY_REPORT = "daily_report"
    TEST = "test"  # `quorum notify test`


class Severity(StrEnum):
    """How urgent: ``critical`` notifications ignore quiet hours."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return ("info", "warning", "critical").index(self.value)


class Notification(Frozen):
    """One message to send to every recipient subscribed to its event."""

    event: NotificationEvent
    key: str = Field(min_length=1, description="Identity of the fact told (deduplication key)")
    title: str = Field(min_length=1, description="One line: the subject / first line")
    body: str = Field(default="", description="Plain text details")
    severity: Severity = Severity.INFO
    ts: UtcDatetime = Field(description="When the fact happened (event time)")
    asset: str | None = None
    link: str | None = Field(default=None, description="Where a person acts on it, if anywhere")


class DeliveryOutcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"  # retries exhausted or a permanent error: audited with the reason
    DUPLICATE = "duplicate"  # the same key went to this recipient within the dedupe window
    QUIET_HOURS = "quiet_hours"  # held back: non-critical inside the recipient's quiet hours
    RATE_LIMITED = "rate_limited"  # over the recipient's rate limit


class Delivery(Frozen):
    """What became of one notification for one recipient (sends and failures are audited)."""

    key: str
    event: NotificationEvent
    recipient: str
    channel: str
    outcome: DeliveryOutcome
    attempts: int = Field(default=0, ge=0)
    error: str | None = None
    ts: UtcDatetime = Field(description="Wall-clock time of the outcome")
