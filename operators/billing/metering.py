"""Metering: which customers a fused signal is delivered to, as usage events (pure).

A signal is *delivered* to a customer when the plan in force lets them receive it on one of
the plan's channels; the delivery time is the signal's time plus the plan's delay, and the plan
must still be in force then (a trial that ends inside the delay delivers nothing). A customer
gets one usage event per signal whatever the channel — the ``usage_id`` is a hash of customer
and signal, which is what makes the metering sink idempotent.

>>> from datetime import UTC, datetime
>>> from operators.billing.catalogue import load_catalogue
>>> from schemas.billing import Subscription
>>> from schemas.signals import Decision, FusedSignal
>>> t = datetime(2022, 1, 10, tzinfo=UTC)
>>> subs = [Subscription(subscription_id="s1", customer_id="cy", plan_id="per_signal",
...                      status="active", started_at=datetime(2022, 1, 1, tzinfo=UTC))]
>>> roster = Roster(load_catalogue(), subs)
>>> sig = FusedSignal(fused_id="f1", asset="BTC-PERP", timestamp=t, score=0.6,
...                   direction="long", decision=Decision.REVIEW)
>>> [(u.customer_id, u.price_minor, u.delivered_at.isoformat()) for u in meter(sig, roster)]
[('cy', 50, '2022-01-10T00:00:00+00:00')]
>>> meter(sig.model_copy(update={"decision": Decision.IGNORE}), roster)
[]
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from operators.billing.catalogue import Catalogue, Plan
from operators.billing.entitlements import check_delivery, deliverable_at, plan_in_force
from operators.billing.revenue_share import attribution
from schemas.billing import Subscription, UsageEvent
from schemas.signals import FusedSignal


def usage_id(customer_id: str, signal_id: str) -> str:
    """The dedupe key of a delivery.

    >>> usage_id("ana", "f1")
    'use-...'
    """
    digest = hashlib.blake2b(f"{customer_id}|{signal_id}".encode(), digest_size=12).hexdigest()
    return f"use-{digest}"


class Roster:
    """The catalogue and every customer's subscriptions: whom the flow delivers to."""

    def __init__(self, catalogue: Catalogue, subscriptions: Iterable[Subscription]) -> None:
        self.catalogue = catalogue
        self.by_customer: dict[str, list[Subscription]] = defaultdict(list)
        for sub in subscriptions:
            self.by_customer[sub.customer_id].append(sub)

    def __len__(self) -> int:
        return len(self.by_customer)


def _delivering_plan(
    roster: Roster, sub: Subscription, fused: FusedSignal
) -> tuple[Plan, datetime] | None:
    plan = plan_in_force(roster.catalogue, sub, fused.timestamp)
    if plan is None:
        return None
    at = deliverable_at(plan.entitlements, fused)
    then = plan_in_force(roster.catalogue, sub, at)
    if then is None:
        return None
    if then.plan_id != plan.plan_id:  # reduced during the delay: its own delay applies
        at = deliverable_at(then.entitlements, fused)
        if plan_in_force(roster.catalogue, sub, at) != then:
            return None
    return then, at


def meter(fused: FusedSignal, roster: Roster) -> list[UsageEvent]:
    """The usage events of ``fused``: one per customer entitled to receive it."""
    events: list[UsageEvent] = []
    parts: dict[str, float] | None = None
    for customer, subs in roster.by_customer.items():
        for sub in subs:
            found = _delivering_plan(roster, sub, fused)
            if found is None:
                continue
            plan, at = found
            ent = plan.entitlements
            if check_delivery(ent, fused, ent.channels[0], at) is not None:
                continue
            if parts is None:
                parts = attribution(fused)
            events.append(
                UsageEvent(
                    usage_id=usage_id(customer, fused.fused_id),
                    customer_id=customer,
                    signal_id=fused.fused_id,
                    asset=fused.asset,
                    decision=fused.decision.value,
                    plan_id=plan.plan_id,
                    price_minor=plan.price_per_signal_minor,
                    currency=roster.catalogue.currency,
                    delivered_at=at,
                    attribution=parts,
                )
            )
            break  # one delivery per customer, whichever subscription grants it
    return events
