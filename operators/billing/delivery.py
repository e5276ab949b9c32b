"""Push delivery (Kafka, webhook): what one customer receives next on a push channel (pure).

The push channels deliver exactly what metering bills (:func:`operators.billing.metering.meter`
for that customer): a signal the plan in force lets the customer receive, as the customer
sees it (:func:`~operators.billing.entitlements.visible`), at ``time + delay`` of that plan —
and only when that plan has the channel. Signals are taken in stream order; the first one not
yet due holds itself and everything after it (the delivery order is the signal order).

>>> from datetime import UTC, datetime, timedelta
>>> from operators.billing.catalogue import load_catalogue
>>> from operators.billing.metering import Roster
>>> from schemas.billing import Subscription
>>> from schemas.signals import Decision, FusedSignal
>>> t = datetime(2022, 1, 10, tzinfo=UTC)
>>> roster = Roster(load_catalogue(), [Subscription(subscription_id="s", customer_id="eve",
...     plan_id="enterprise", status="active", started_at=datetime(2022, 1, 1, tzinfo=UTC))])
>>> sig = FusedSignal(fused_id="f1", asset="ETH-PERP", timestamp=t, score=0.1,
...                   direction="long", decision=Decision.IGNORE)
>>> push = next_push(sig, roster, "eve", Channel.KAFKA, t)
>>> push.signal.fused_id, push.usage.usage_id == usage_id("eve", "f1")
('f1', True)
>>> next_push(sig, roster, "eve", Channel.KAFKA, t - timedelta(seconds=1)) is HOLD
True
>>> next_push(sig, roster, "ana", Channel.KAFKA, t) is None  # not a customer of the roster
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from operators.billing.entitlements import visible
from operators.billing.metering import Roster, meter, usage_id
from schemas.billing import Channel, UsageEvent
from schemas.signals import FusedSignal

__all__ = ["HOLD", "Channel", "Hold", "Push", "next_push", "usage_id"]


@dataclass(frozen=True, slots=True)
class Push:
    """One delivery: the signal as the customer sees it, and its usage event (metered once)."""

    signal: FusedSignal
    usage: UsageEvent


class Hold:
    """Not due yet: the customer's plan delays it; stop here and come back later."""

    def __repr__(self) -> str:
        return "HOLD"


HOLD: Final = Hold()


def pushes_channel(roster: Roster, customer: str, channel: Channel) -> bool:
    """Whether any plan ``customer`` may hold (theirs or the past-due fallback) has ``channel``.

    >>> from operators.billing.catalogue import load_catalogue
    >>> from schemas.billing import Subscription
    >>> from datetime import UTC, datetime
    >>> r = Roster(load_catalogue(), [Subscription(subscription_id="s", customer_id="ana",
    ...     plan_id="pro", status="active", started_at=datetime(2022, 1, 1, tzinfo=UTC))])
    >>> pushes_channel(r, "ana", Channel.KAFKA), pushes_channel(r, "ana", Channel.SSE)
    (False, True)
    """
    catalogue = roster.catalogue
    plans = {s.plan_id for s in roster.by_customer.get(customer, ())}
    if plans and catalogue.past_due_plan is not None:
        plans.add(catalogue.past_due_plan)
    return any(channel in catalogue.plan(p).entitlements.channels for p in plans)


def next_push(
    fused: FusedSignal, roster: Roster, customer: str, channel: Channel, now: datetime
) -> Push | Hold | None:
    """``fused`` for ``customer`` on ``channel`` at ``now``: a :class:`Push`, :data:`HOLD`
    (entitled but not due yet) or ``None`` (never: not entitled, or not on this channel)."""
    own = Roster(roster.catalogue, roster.by_customer.get(customer, ()))
    events = meter(fused, own)
    if not events:
        return None
    usage = events[0]
    entitlements = roster.catalogue.plan(usage.plan_id).entitlements
    if channel not in entitlements.channels:
        return None
    if now < usage.delivered_at:
        return HOLD
    return Push(visible(entitlements, fused), usage)
