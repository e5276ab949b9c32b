"""Business KPIs from subscriptions and invoices: MRR, ARPU, trial conversion, churn.

Definitions (all at or over a month ``[start, end)``):

* **MRR**: the monthly price of every subscription active (or past due) at ``end`` — trials
  and per-signal plans count 0;
* **ARPU**: revenue invoiced for the month ÷ customers invoiced a non-zero amount;
* **trial conversion**: trials that ended in the month and became paying ÷ trials that ended;
* **churn**: paying subscriptions canceled in the month ÷ subscriptions paying at any time in
  the month (at ``start``, or from a start or trial conversion inside it).

>>> from datetime import UTC, datetime
>>> from operators.billing.catalogue import load_catalogue
>>> from schemas.billing import Subscription
>>> d = lambda day, m=1: datetime(2022, m, day, tzinfo=UTC)
>>> subs = [Subscription(subscription_id="a", customer_id="a", plan_id="pro", status="active",
...                      started_at=d(1), trial_ends_at=d(15))]
>>> k = month_kpis(load_catalogue(), subs, {"a": 5000}, d(1), d(1, 2))
>>> k.mrr_minor, k.arpu_minor, k.trials_ended, k.trials_converted, k.trial_conversion
(9900, 5000, 1, 1, 1.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from operators.billing.catalogue import Catalogue
from operators.billing.entitlements import status_at
from schemas.billing import Subscription, SubscriptionStatus

_PAYING = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


@dataclass(frozen=True)
class MonthKpis:
    month_start: datetime
    mrr_minor: int
    arpu_minor: int
    paying_customers: int
    trials_ended: int
    trials_converted: int
    trial_conversion: float | None
    trials_expired: int
    paying_in_month: int
    churned: int
    churn_rate: float | None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["month_start"] = self.month_start.isoformat()
        return out


def month_kpis(
    catalogue: Catalogue,
    subscriptions: Iterable[Subscription],
    invoiced_minor: Mapping[str, int],
    start: datetime,
    end: datetime,
) -> MonthKpis:
    """KPIs of the month ``[start, end)`` (``invoiced_minor``: customer → invoiced total)."""
    subs = list(subscriptions)
    last = end - timedelta(microseconds=1)
    mrr = sum(catalogue.plan(s.plan_id).price_minor for s in subs if status_at(s, last) in _PAYING)
    paying = {c: v for c, v in invoiced_minor.items() if v > 0}
    arpu = sum(paying.values()) // len(paying) if paying else 0
    ended = [s for s in subs if s.trial_ends_at is not None and start <= s.trial_ends_at < end]
    converted = [s for s in ended if status_at(s, s.trial_ends_at) in _PAYING]
    expired = [s for s in ended if status_at(s, s.trial_ends_at) is SubscriptionStatus.EXPIRED]
    paying_in_month = [
        s
        for s in subs
        if status_at(s, start) in _PAYING
        or any(
            t is not None and start <= t < end and status_at(s, t) in _PAYING
            for t in (s.started_at, s.trial_ends_at)
        )
    ]
    churned = [
        s
        for s in subs
        if s.ended_at is not None
        and start <= s.ended_at < end
        and status_at(s, s.ended_at - timedelta(microseconds=1)) in _PAYING
    ]
    return MonthKpis(
        month_start=start,
        mrr_minor=mrr,
        arpu_minor=arpu,
        paying_customers=len(paying),
        trials_ended=len(ended),
        trials_converted=len(converted),
        trial_conversion=len(converted) / len(ended) if ended else None,
        trials_expired=len(expired),
        paying_in_month=len(paying_in_month),
        churned=len(churned),
        churn_rate=len(churned) / len(paying_in_month) if paying_in_month else None,
    )
