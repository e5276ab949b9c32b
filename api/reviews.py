"""A reviewer's decision on a REVIEW-band signal: the queue and the audit log, in one go.

:func:`decide` updates ``review_queue`` (:func:`connectors.store.signals.decide_review`) and
appends a ``review_decision`` record to the hash-chained audit log in the *same* transaction:
either both happen or neither. The API and the dashboard both decide through here, so every
decision names who took it, when, through which channel, and why. The decision is also
expressed as the trading core's :class:`~schemas.operations.ManualAction` (in the audit payload
and the result), the form a running flow takes human actions in.

>>> from datetime import UTC, datetime
>>> from connectors.store.audit import verify_store
>>> from connectors.store.engine import open_store
>>> from connectors.store.signals import write_fused
>>> from schemas.signals import Decision, FusedSignal
>>> engine = open_store("sqlite://")
>>> t = datetime(2022, 1, 3, tzinfo=UTC)
>>> _ = write_fused(engine, [FusedSignal(fused_id="f1", asset="BTC/USDT", timestamp=t,
...                                      score=0.6, direction="long", decision=Decision.REVIEW)])
>>> outcome = decide(engine, "f1", "approve", reviewer="ana", comment="ok", now=t, via="api")
>>> outcome.review.status, outcome.audit.kind, outcome.audit.payload["reviewer"]
('approved', 'review_decision', 'ana')
>>> outcome.action.kind.value, outcome.action.actor, verify_store(engine).ok
('approve_review', 'ana', True)
>>> decide(engine, "f1", "reject", reviewer="bo", comment="late", now=t, via="api")
Traceback (most recent call last):
...
api.reviews.AlreadyDecidedError: review 'f1' was already decided: approved
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from api.models import ReviewItem
from api.reads.signals import review_by_id
from connectors.audit.config import AuditTrust
from connectors.store.audit import AuditConflictError, append_events
from connectors.store.signals import decide_review
from operators.audit.chain import AuditEvent
from schemas.operations import ManualAction, ManualActionKind
from schemas.records import AuditRecord

AUDIT_KIND = "review_decision"
_STATUS = {"approve": "approved", "reject": "rejected"}
_ACTION = {"approve": ManualActionKind.APPROVE_REVIEW, "reject": ManualActionKind.REJECT_REVIEW}
_WRITE_LOCK = threading.Lock()
_ATTEMPTS = 3


class NotQueuedError(KeyError):
    """No review item with this id."""

    def __str__(self) -> str:
        return str(self.args[0])


class AlreadyDecidedError(ValueError):
    """Decisions are final: the item was approved or rejected before."""


class ConcurrentWriteError(RuntimeError):
    """Another writer kept moving the audit chain; the decision was not recorded."""


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    """What a decision produced: the updated item, its audit record, the manual action."""

    review: ReviewItem
    audit: AuditRecord
    action: ManualAction


def decide(
    engine: Engine,
    fused_id: str,
    decision: Literal["approve", "reject"],
    *,
    reviewer: str,
    comment: str,
    now: datetime,
    via: str,
    trust: AuditTrust | None = None,
) -> ReviewOutcome:
    """Record the decision in the queue and the audit log atomically.

    The record is keyed and the new head checkpointed outside the store with ``trust``
    (default: as configured in the environment, :mod:`connectors.audit.config`).

    Raises :class:`NotQueuedError`, :class:`AlreadyDecidedError`, or
    :class:`ConcurrentWriteError` when another process appended to the audit log at the same
    moment every time it was tried (nothing was written then).
    """
    status = _STATUS.get(decision)
    if status is None:
        raise ValueError(f"decision must be 'approve' or 'reject', got {decision!r}")
    action = ManualAction(
        action_id=f"review-{fused_id}",  # one decision per item: decisions are final
        kind=_ACTION[decision],
        actor=reviewer,
        ts=now,
        fused_id=fused_id,
        reason=comment,
    )
    trust = trust if trust is not None else AuditTrust.for_engine(engine)
    for _attempt in range(_ATTEMPTS):
        try:
            with _WRITE_LOCK, engine.begin() as conn:
                # The UPDATE first: on SQLite it takes the write lock before the audit head is
                # read, so no other writer can move the head in between.
                try:
                    decide_review(
                        conn,
                        fused_id,
                        status,  # type: ignore[arg-type]
                        reviewer=reviewer,
                        comment=comment,
                        decided_at=now,
                    )
                except KeyError:
                    raise NotQueuedError(
                        f"fused_id {fused_id!r} is not in the review queue"
                    ) from None
                except ValueError as exc:
                    raise AlreadyDecidedError(str(exc)) from None
                item = review_by_id(conn, fused_id)
                if item is None:  # pragma: no cover - updated in this very transaction
                    raise NotQueuedError(f"fused_id {fused_id!r} vanished from the review queue")
                payload = {
                    "fused_id": fused_id,
                    "asset": item.asset,
                    "direction": item.direction.value,
                    "score": item.score,
                    "signal_time": item.timestamp.isoformat(),
                    "decision": status,
                    "reviewer": reviewer,
                    "comment": comment,
                    "via": via,
                    "action": action.model_dump(mode="json"),
                }
                (record,) = append_events(conn, [AuditEvent(AUDIT_KIND, now, payload)], trust.key)
            trust.checkpoint((record.seq, record.hash))
            return ReviewOutcome(item, record, action)
        except (AuditConflictError, IntegrityError):
            continue  # another process appended between our read of the head and our insert
    raise ConcurrentWriteError(
        f"the audit log kept changing under review {fused_id!r}; nothing was recorded, retry"
    )
