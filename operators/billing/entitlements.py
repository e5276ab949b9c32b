"""Entitlement checks: may this customer receive this fused signal, here and now?

Pure functions over the catalogue, a subscription and a signal; every delivery channel (API,
SSE stream, the flow's metering) asks the same question through :func:`check_delivery`.

Rules:

* the subscription decides the plan in force at an instant (:func:`plan_in_force`): none
  before it starts or after it ends; the plan itself while trialing, active, or past due for
  less than the catalogue's ``grace_days``; after the grace period the ``past_due_plan``'s
  (reduced) entitlements;
* a signal is delivered only on a channel of the plan, for an asset the plan covers, in a
  decision band the plan includes, and not before ``timestamp + delay_seconds``;
* the customer sees only the contributions on the plan's timeframes and sources; a signal with
  contributions but none visible is withheld.

>>> from datetime import UTC, datetime, timedelta
>>> from operators.billing.catalogue import load_catalogue
>>> from schemas.signals import Decision, FusedSignal
>>> cat = load_catalogue()
>>> t = datetime(2022, 1, 10, tzinfo=UTC)
>>> sig = FusedSignal(fused_id="f1", asset="BTC-PERP", timestamp=t, score=0.8,
...                   direction="long", decision=Decision.OPEN)
>>> basic = cat.plan("basic").entitlements
>>> check_delivery(basic, sig, Channel.API, t).value
'too_early'
>>> check_delivery(basic, sig, Channel.API, t + timedelta(minutes=15)) is None
True
>>> check_delivery(basic, sig, Channel.SSE, t + timedelta(minutes=15)).value
'channel'
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import TypeVar

from operators.billing.catalogue import Catalogue, Entitlements, Plan
from schemas.billing import Channel, Subscription, SubscriptionStatus
from schemas.signals import Contribution, FusedSignal

F = TypeVar("F", bound=FusedSignal)

__all__ = [
    "Channel",
    "Denial",
    "check_delivery",
    "current_plan",
    "deliverable_at",
    "past_due_start",
    "plan_in_force",
    "seat_refusal",
    "status_at",
    "visible",
]


class Denial(StrEnum):
    """Why a signal is not delivered to a customer."""

    NO_PLAN = "no_plan"
    CHANNEL = "channel"
    ASSET = "asset"
    DECISION = "decision"
    SOURCES = "sources"
    TOO_EARLY = "too_early"


def status_at(sub: Subscription, now: datetime) -> SubscriptionStatus | None:
    """The subscription's state at ``now`` from its dates (``None``: not started yet).

    >>> from datetime import UTC, datetime
    >>> d = lambda day: datetime(2022, 1, day, tzinfo=UTC)
    >>> sub = Subscription(subscription_id="s", customer_id="c", plan_id="pro",
    ...                    status="canceled", started_at=d(1), trial_ends_at=d(15),
    ...                    past_due_since=d(20), ended_at=d(28))
    >>> [status_at(sub, d(x)) for x in (1, 15, 21, 28)]
    [<SubscriptionStatus.TRIALING: 'trialing'>, <SubscriptionStatus.ACTIVE: 'active'>, \
<SubscriptionStatus.PAST_DUE: 'past_due'>, <SubscriptionStatus.CANCELED: 'canceled'>]
    """
    if now < sub.started_at:
        return None
    if sub.ended_at is not None and now >= sub.ended_at:
        if sub.status is SubscriptionStatus.EXPIRED:
            return SubscriptionStatus.EXPIRED
        return SubscriptionStatus.CANCELED
    if sub.trial_ends_at is not None and now < sub.trial_ends_at:
        return SubscriptionStatus.TRIALING
    if sub.status is SubscriptionStatus.TRIALING:
        return SubscriptionStatus.EXPIRED  # trial over and never converted
    if past_due_start(sub, now) is not None:
        return SubscriptionStatus.PAST_DUE
    return SubscriptionStatus.ACTIVE


def past_due_start(sub: Subscription, now: datetime) -> datetime | None:
    """When the past-due period containing ``now`` began (``None``: not past due then).

    The open period (``past_due_since``) and the closed ones kept by reactivations
    (``past_due_periods``) both count: reactivating does not rewrite history.

    >>> from datetime import UTC, datetime
    >>> d = lambda day: datetime(2022, 1, day, tzinfo=UTC)
    >>> sub = Subscription(subscription_id="s", customer_id="c", plan_id="pro",
    ...                    status="active", started_at=d(1), past_due_periods=[(d(5), d(9))])
    >>> [past_due_start(sub, d(x)) for x in (4, 5, 9)] == [None, d(5), None]
    True
    """
    if sub.past_due_since is not None and now >= sub.past_due_since:
        return sub.past_due_since
    for since, until in sub.past_due_periods:
        if since <= now < until:
            return since
    return None


def plan_in_force(catalogue: Catalogue, sub: Subscription | None, now: datetime) -> Plan | None:
    """The plan whose entitlements apply at ``now`` (reduced after the past-due grace)."""
    if sub is None:
        return None
    status = status_at(sub, now)
    if status in (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE):
        return catalogue.plan(sub.plan_id)
    if status is SubscriptionStatus.PAST_DUE:
        since = past_due_start(sub, now)
        assert since is not None
        if now - since < timedelta(days=catalogue.grace_days):
            return catalogue.plan(sub.plan_id)
        if catalogue.past_due_plan is None:
            return None
        return catalogue.plan(catalogue.past_due_plan)
    return None


def current_plan(
    catalogue: Catalogue, subs: list[Subscription], now: datetime
) -> tuple[Subscription | None, Plan | None]:
    """A customer's subscription and plan in force at ``now`` (the newest that grants one).

    Without a plan in force: the newest subscription (or ``None``) and no plan.
    """
    for sub in reversed(subs):
        plan = plan_in_force(catalogue, sub, now)
        if plan is not None:
            return sub, plan
    return (subs[-1] if subs else None), None


def seat_refusal(customer: str, plan: Plan | None, active_keys: int) -> str | None:
    """Why ``customer`` may not hold one more API key (seats = active keys), else ``None``.

    >>> from operators.billing.catalogue import load_catalogue
    >>> seat_refusal("bea", load_catalogue().plan("pro"), 2) is None
    True
    >>> seat_refusal("bea", load_catalogue().plan("basic"), 1)
    "customer 'bea' holds 1 active API key(s) and plan 'basic' allows 1 seat(s): revoke one \
(quorum serve --revoke-key KEY_ID) or change plan"
    """
    if plan is None:
        return f"customer {customer!r} has no subscription in force: no seats to issue a key on"
    seats = plan.entitlements.seats
    if active_keys >= seats:
        return (
            f"customer {customer!r} holds {active_keys} active API key(s) and plan "
            f"{plan.plan_id!r} allows {seats} seat(s): revoke one "
            "(quorum serve --revoke-key KEY_ID) or change plan"
        )
    return None


def _visible_contributions(ent: Entitlements, fused: FusedSignal) -> list[Contribution]:
    return [
        c
        for c in fused.contributions
        if c.timeframe in ent.timeframes and any(fnmatchcase(c.origin, p) for p in ent.sources)
    ]


def deliverable_at(ent: Entitlements, fused: FusedSignal) -> datetime:
    """The earliest instant the plan lets the customer see ``fused``."""
    return fused.timestamp + timedelta(seconds=ent.delay_seconds)


def check_delivery(
    ent: Entitlements | None, fused: FusedSignal, channel: Channel, now: datetime
) -> Denial | None:
    """``None`` when ``fused`` may be delivered on ``channel`` at ``now``, else the reason."""
    if ent is None:
        return Denial.NO_PLAN
    if channel not in ent.channels:
        return Denial.CHANNEL
    if not any(fnmatchcase(fused.asset, pattern) for pattern in ent.assets):
        return Denial.ASSET
    if fused.decision not in ent.decisions:
        return Denial.DECISION
    if fused.contributions and not _visible_contributions(ent, fused):
        return Denial.SOURCES
    if now < deliverable_at(ent, fused):
        return Denial.TOO_EARLY
    return None


def visible(ent: Entitlements, fused: F) -> F:
    """``fused`` as the customer sees it: only contributions of entitled timeframes/sources."""
    shown = _visible_contributions(ent, fused)
    if len(shown) == len(fused.contributions):
        return fused
    return fused.model_copy(update={"contributions": shown})
