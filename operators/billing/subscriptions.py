"""The subscription state machine that Stripe's webhooks drive.

::

    trialing ──► active ◄──► past_due
       │  │         │           │
       │  └─► expired (trial ended unpaid)
       └──────────► canceled ◄──┘       (canceled and expired are final)

Stripe statuses map onto these (``unpaid`` → past_due, ``incomplete_expired`` → expired).
A transition the machine does not allow (e.g. back from canceled) is ignored, as is an event
older than the last one applied — so repeated and out-of-order webhooks change nothing twice.

>>> from datetime import UTC, datetime
>>> from schemas.billing import Subscription
>>> t = lambda d: datetime(2022, 1, d, tzinfo=UTC)
>>> sub = Subscription(subscription_id="s", customer_id="c", plan_id="pro", status="active",
...                    started_at=t(1))
>>> late = transition(sub, "past_due", t(10))
>>> late.status.value, late.past_due_since.day
('past_due', 10)
>>> back = transition(late, "active", t(12))
>>> back.past_due_since is None, [(a.day, b.day) for a, b in back.past_due_periods]
(True, [(10, 12)])
>>> transition(transition(late, "canceled", t(20)), "active", t(21)) is None
True
"""

from __future__ import annotations

from datetime import datetime

from schemas.billing import Subscription, SubscriptionStatus

S = SubscriptionStatus

STRIPE_STATUS: dict[str, SubscriptionStatus] = {
    "trialing": S.TRIALING,
    "active": S.ACTIVE,
    "past_due": S.PAST_DUE,
    "unpaid": S.PAST_DUE,
    "canceled": S.CANCELED,
    "incomplete_expired": S.EXPIRED,
}

ALLOWED: dict[SubscriptionStatus, frozenset[SubscriptionStatus]] = {
    S.TRIALING: frozenset({S.ACTIVE, S.PAST_DUE, S.CANCELED, S.EXPIRED}),
    S.ACTIVE: frozenset({S.PAST_DUE, S.CANCELED}),
    S.PAST_DUE: frozenset({S.ACTIVE, S.CANCELED}),
    S.CANCELED: frozenset(),
    S.EXPIRED: frozenset(),
}


def transition(sub: Subscription, stripe_status: str, at: datetime) -> Subscription | None:
    """``sub`` after Stripe reports ``stripe_status`` at ``at``; ``None`` when nothing changes."""
    new = STRIPE_STATUS.get(stripe_status)
    if new is None or new is sub.status or new not in ALLOWED[sub.status]:
        return None
    changes: dict[str, object] = {"status": new}
    if new is S.PAST_DUE:
        changes["past_due_since"] = sub.past_due_since or at
    elif new is S.ACTIVE:
        changes["past_due_since"] = None
        if sub.past_due_since is not None:  # keep the period: history is not rewritten
            changes["past_due_periods"] = (*sub.past_due_periods, (sub.past_due_since, at))
        if sub.trial_ends_at is not None and sub.trial_ends_at > at:
            changes["trial_ends_at"] = at  # converted before the trial's end
    elif new in (S.CANCELED, S.EXPIRED):
        changes["ended_at"] = at
    return sub.model_copy(update=changes)
