"""The monthly close (pure): usage, subscriptions and portfolios in; invoices, postings out.

Rules:

* billing periods are calendar months (UTC);
* a subscription is charged its plan's monthly price pro rata of the days it was paying
  (active or past due at the start of the day), rounded down; trial days are free;
* every delivered signal is charged its metered price (per-signal plans);
* a customer with a portfolio pays the performance fee of :mod:`.performance_fee`;
* a customer whose plan Stripe's own subscription cycle bills (``stripe_cycle``: the lines
  of Stripe's invoices whose period starts in the month, read back by the caller) is charged
  those lines instead of the subscription and usage lines above — the ledger books what
  Stripe billed, and ``close --stripe`` sends only the remaining lines (performance fee);
* revenue is shared with authors as :mod:`.revenue_share` says.

Every id is derived from the month and the party, so the same inputs close to the same
invoices and postings: a close run twice writes nothing new.

>>> month_bounds("2022-01")[1].isoformat()
'2022-02-01T00:00:00+00:00'
>>> month_bounds("2022-13")
Traceback (most recent call last):
...
ValueError: month '2022-13' must be YYYY-MM (e.g. 2022-01)
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from operators.billing.catalogue import Catalogue
from operators.billing.entitlements import status_at
from operators.billing.kpis import MonthKpis, month_kpis
from operators.billing.ledger import invoice_posting, revenue_share_posting
from operators.billing.performance_fee import HighWaterMark, monthly_fee
from operators.billing.revenue_share import RevenueShare, share_revenue
from schemas.billing import (
    AuthorStatement,
    Charge,
    Invoice,
    Posting,
    Subscription,
    SubscriptionStatus,
    UsageEvent,
)

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_PAYING = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``[start, end)`` of a ``YYYY-MM`` month in UTC."""
    match = _MONTH.match(month)
    if match is None:
        raise ValueError(f"month {month!r} must be YYYY-MM (e.g. 2022-01)")
    year, number = int(match.group(1)), int(match.group(2))
    start = datetime(year, number, 1, tzinfo=UTC)
    days = calendar.monthrange(year, number)[1]
    return start, start + timedelta(days=days)


def paying_days(sub: Subscription, start: datetime, end: datetime) -> int:
    """Days of ``[start, end)`` at whose start ``sub`` was active or past due."""
    days = (end - start).days
    return sum(status_at(sub, start + timedelta(days=d)) in _PAYING for d in range(days))


@dataclass(frozen=True)
class Portfolio:
    """A subscriber's portfolio at the month's end and its fee state before the close."""

    equity_minor: int
    mark: HighWaterMark


@dataclass
class CloseResult:
    month: str
    invoices: list[Invoice] = field(default_factory=list)
    postings: list[Posting] = field(default_factory=list)
    statements: list[AuthorStatement] = field(default_factory=list)
    marks: dict[str, HighWaterMark] = field(default_factory=dict)
    kpis: MonthKpis | None = None
    share: RevenueShare | None = None


def close_month(
    month: str,
    catalogue: Catalogue,
    subscriptions: Sequence[Subscription],
    usage: Sequence[UsageEvent],
    portfolios: Mapping[str, Portfolio] | None = None,
    outcomes: Mapping[str, float] | None = None,
    stripe_cycle: Mapping[str, Sequence[Charge]] | None = None,
) -> CloseResult:
    """Invoices, ledger postings, author statements, fee states and KPIs of ``month``."""
    start, end = month_bounds(month)
    portfolios = portfolios or {}
    stripe_cycle = stripe_cycle or {}
    usage = [u for u in usage if start <= u.delivered_at < end]
    days = (end - start).days
    lines: dict[str, list[Charge]] = defaultdict(list)
    subscription_minor: dict[str, int] = defaultdict(int)
    for customer, charges in sorted(stripe_cycle.items()):
        lines[customer].extend(charges)
        subscription_minor[customer] += sum(
            c.amount_minor for c in charges if c.kind == "stripe_subscription"
        )
    for sub in subscriptions:
        if sub.customer_id in stripe_cycle:
            continue
        plan = catalogue.plan(sub.plan_id)
        paid_days = paying_days(sub, start, end)
        amount = plan.price_minor * paid_days // days
        if amount:
            subscription_minor[sub.customer_id] += amount
            lines[sub.customer_id].append(
                Charge(
                    kind="subscription",
                    description=f"{plan.name} {month}, {paid_days}/{days} days",
                    quantity=1,
                    unit_minor=amount,
                    amount_minor=amount,
                    currency=catalogue.currency,
                )
            )
    priced: dict[tuple[str, int], int] = defaultdict(int)
    for event in usage:
        if event.price_minor and event.customer_id not in stripe_cycle:
            priced[(event.customer_id, event.price_minor)] += 1
    for (customer, unit), count in sorted(priced.items()):
        lines[customer].append(
            Charge(
                kind="usage",
                description=f"{count} signals at {unit} minor units",
                quantity=count,
                unit_minor=unit,
                amount_minor=count * unit,
                currency=catalogue.currency,
            )
        )
    result = CloseResult(month)
    for customer, portfolio in sorted(portfolios.items()):
        fee, mark = monthly_fee(
            portfolio.mark,
            equity_minor=portfolio.equity_minor,
            percent=catalogue.performance_fee.percent,
        )
        result.marks[customer] = mark
        if fee:
            lines[customer].append(
                Charge(
                    kind="performance_fee",
                    description=(
                        f"{catalogue.performance_fee.percent} % of gains above the high-water "
                        f"mark {portfolio.mark.mark_minor}"
                    ),
                    unit_minor=fee,
                    amount_minor=fee,
                    currency=catalogue.currency,
                )
            )
    for customer in sorted(lines):
        invoice = Invoice(
            invoice_id=f"{month}-{customer}",
            customer_id=customer,
            month=month,
            lines=tuple(lines[customer]),
            currency=catalogue.currency,
        )
        result.invoices.append(invoice)
        posting = invoice_posting(invoice, end)
        if posting is not None:
            result.postings.append(posting)
    share = share_revenue(month, usage, subscription_minor, catalogue, outcomes)
    shared = revenue_share_posting(
        month, share.shared(), share.payable_by_author, end, catalogue.currency
    )
    if shared is not None:
        result.postings.append(shared)
    result.statements = share.statements
    result.share = share
    invoiced = {i.customer_id: i.total_minor for i in result.invoices}
    result.kpis = month_kpis(catalogue, subscriptions, invoiced, start, end)
    return result
