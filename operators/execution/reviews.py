"""Reviews and people's actions in the trading core.

A ``review`` decision is queued as a :class:`~operators.execution.records.ReviewTicket` until a
person approves it (then it is carried out like an ``open``), rejects it, or it expires after
``review_ttl_seconds``; a backtest's ``review_policy`` can answer for the person, as an audited
action of ``simulated-reviewer``. A person can also halt or resume trading, cancel a working
order and close a position; every action gets a
:class:`~operators.execution.records.ManualActionResult`.
"""

from __future__ import annotations

from decimal import Decimal

from operators.execution.engine_state import Review, TradingEvent
from operators.execution.entries import Entries
from operators.execution.records import (
    ManualAction,
    ManualActionKind,
    ManualActionResult,
    ReviewStatus,
    ReviewTicket,
)
from schemas.common import NS_PER_SECOND, ns_to_datetime
from schemas.signals import FusedSignal


class Reviews(Entries):
    """Queues, expires and settles reviews; carries out people's actions."""

    def _queue_review(self, signal: FusedSignal, now: int) -> list[TradingEvent]:
        expires = now + int(self.config.review_ttl_seconds * NS_PER_SECOND)
        ticket = ReviewTicket(
            fused_id=signal.fused_id,
            asset=signal.asset,
            direction=signal.direction,
            score=signal.score,
            status=ReviewStatus.QUEUED,
            reasons=list(signal.reasons),
            queued_at=ns_to_datetime(now),
            expires_at=ns_to_datetime(expires),
            updated_at=ns_to_datetime(now),
        )
        self.reviews[signal.fused_id] = Review(signal, ticket, expires)
        self.stats["reviews_queued"] += 1
        events: list[TradingEvent] = [ticket]
        if self.config.review_policy != "queue":
            events.extend(self._simulated_review(signal, now))
        return events

    def _simulated_review(self, signal: FusedSignal, now: int) -> list[TradingEvent]:
        """A backtest has no person at the queue: ``review_policy`` decides, as a recorded,
        audited manual action by the actor ``simulated-reviewer``."""
        kind = (
            ManualActionKind.APPROVE_REVIEW
            if self.config.review_policy == "approve"
            else ManualActionKind.REJECT_REVIEW
        )
        action = ManualAction(
            action_id=self._scoped(f"sim-review-{signal.fused_id}"),
            kind=kind,
            actor="simulated-reviewer",
            ts=ns_to_datetime(now),
            fused_id=signal.fused_id,
            reason=f"review_policy={self.config.review_policy}",
        )
        return self._on_manual(action, now)

    def _expire_reviews(self, now: int) -> list[TradingEvent]:
        if not self.reviews:
            return []
        over = [fid for fid, r in self.reviews.items() if r.expires_ns <= now]
        events: list[TradingEvent] = []
        for fused_id in over:
            review = self.reviews.pop(fused_id)
            self.stats["reviews_expired"] += 1
            events.append(_ticket(review.ticket, ReviewStatus.EXPIRED, now, None))
        return events

    def _on_manual(self, action: ManualAction, now: int) -> list[TradingEvent]:
        self.stats[f"manual_{action.kind.value}"] += 1
        effects: list[TradingEvent] = []
        applied, detail = True, "done"
        kind = action.kind
        if action.portfolio not in (None, self.portfolio):
            applied, detail = False, f"no portfolio {action.portfolio!r}"
        elif kind in (ManualActionKind.APPROVE_REVIEW, ManualActionKind.REJECT_REVIEW):
            review = self.reviews.pop(action.fused_id or "", None)
            if review is None:
                applied, detail = False, f"no queued review {action.fused_id}"
            elif kind is ManualActionKind.APPROVE_REVIEW:
                self.stats["reviews_approved"] += 1
                effects.append(_ticket(review.ticket, ReviewStatus.APPROVED, now, action.actor))
                effects.extend(self._act(review.signal, now))
            else:
                self.stats["reviews_rejected"] += 1
                effects.append(_ticket(review.ticket, ReviewStatus.REJECTED, now, action.actor))
        elif kind is ManualActionKind.SET_TRADING_STATE:
            assert action.state is not None
            note = f"{action.actor}: {action.reason}" if action.reason else action.actor
            changes = self.guard.set_state(
                action.state, now_ns=now, equity=self.book.equity(), detail=note
            )
            effects.extend(self._on_state_changes(changes, now))
            detail = f"trading state {self.guard.state.value}"
        elif kind is ManualActionKind.CANCEL_ORDER:
            reason = f"cancelled by {action.actor}" + (
                f": {action.reason}" if action.reason else ""
            )
            reports = self.router.cancel(action.order_id or "", now, reason)
            if not reports:
                applied, detail = False, f"no working order {action.order_id}"
            effects.extend(self._on_execution(reports, now))
        else:
            asset = action.asset or ""
            if self.book.quantity(asset) == 0:
                applied, detail = False, f"no open position in {asset}"
            else:
                effects.extend(self._exit(asset, Decimal(1), f"closed by {action.actor}", now))
        result = ManualActionResult(
            action=action, applied=applied, detail=detail, ts=ns_to_datetime(now)
        )
        return [result, *effects]


def _ticket(
    ticket: ReviewTicket, status: ReviewStatus, now: int, actor: str | None
) -> ReviewTicket:
    return ticket.model_copy(
        update={"status": status, "updated_at": ns_to_datetime(now), "actor": actor}
    )
