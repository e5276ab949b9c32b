"""Revenue share: a fused signal's revenue goes to its sources' authors by fusion's shares.

Rules (integer minor units throughout, split by :func:`~operators.billing.money.allocate`):

1. A delivered signal earns its per-signal price plus an equal slice of the customer's
   subscription charge for the month (the charge spread over the signals delivered to that
   customer that month; a customer who received none attributes nothing).
2. The signal's revenue is split over its sources by :func:`attribution`: each contribution's
   ``share`` signed towards the fused direction; sources that argued against it get nothing.
3. A source belongs to the first author whose pattern matches its origin; unclaimed sources
   belong to the platform, whose part stays revenue.
4. An author is owed ``author_percent`` % of what their sources earned (rounded down); the
   rest is the platform's fee.

>>> from datetime import UTC, datetime
>>> from operators.billing.catalogue import load_catalogue
>>> from schemas.billing import UsageEvent
>>> t = datetime(2022, 1, 5, tzinfo=UTC)
>>> u = UsageEvent(usage_id="u1", customer_id="c", signal_id="f1", asset="BTC", decision="open",
...                plan_id="per_signal", price_minor=50, delivered_at=t,
...                attribution={"rules:rsi_reversal_short@15m": 0.6, "stat:trend_strength@1h": 0.4})
>>> share = share_revenue("2022-01", [u], {}, load_catalogue())
>>> share.attributed_by_author["revenue:signals"]
{'ana': 30, 'bo': 20}
>>> [(s.author, s.attributed_minor, s.payable_minor) for s in share.statements]
[('ana', 30, 21), ('bo', 20, 14)]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from operators.billing.catalogue import Catalogue
from operators.billing.money import allocate, percent_of
from schemas.billing import AuthorStatement, StatementLine, UsageEvent
from schemas.signals import FusedSignal


def source_key(origin: str, timeframe: str) -> str:
    return f"{origin}@{timeframe}"


def origin_of(key: str) -> str:
    return key.rsplit("@", 1)[0]


def attribution(fused: FusedSignal) -> dict[str, float]:
    """Each source's part of ``fused`` (summing to 1), from the shares fusion recorded.

    >>> from datetime import UTC, datetime
    >>> from schemas.signals import Contribution, Decision
    >>> c = lambda o, s: Contribution(origin=o, timeframe="1h", direction="long",
    ...     confidence=0.5, weight=1, signed=s, share=s, signal_id=o)
    >>> f = FusedSignal(fused_id="f", asset="A", timestamp=datetime(2022, 1, 1, tzinfo=UTC),
    ...     score=-0.3, direction="short", decision=Decision.IGNORE,
    ...     contributions=[c("a", -0.45), c("b", 0.3), c("d", -0.15)])
    >>> attribution(f)
    {'a@1h': 0.75, 'd@1h': 0.25}
    """
    sign = 1.0 if fused.score >= 0 else -1.0
    parts: dict[str, float] = defaultdict(float)
    for c in fused.contributions:
        towards = c.share * sign
        if towards > 0:
            parts[source_key(c.origin, c.timeframe.value)] += towards
    total = sum(parts.values())
    if total <= 0:
        return {}
    return {k: round(v / total, 12) for k, v in parts.items()}


@dataclass
class RevenueShare:
    """A month's attribution: per revenue account and author, and each author's statement."""

    month: str
    attributed_by_author: dict[str, dict[str, int]] = field(default_factory=dict)
    """revenue account → author (platform included) → minor units attributed."""
    payable_by_author: dict[str, int] = field(default_factory=dict)
    statements: list[AuthorStatement] = field(default_factory=list)

    def shared(self) -> dict[str, dict[str, int]]:
        """Attribution to authors other than the platform (what leaves revenue)."""
        return {
            acc: {a: v for a, v in by.items() if a in self.payable_by_author}
            for acc, by in self.attributed_by_author.items()
        }


def share_revenue(
    month: str,
    usage: Iterable[UsageEvent],
    subscription_minor: Mapping[str, int],
    catalogue: Catalogue,
    outcomes: Mapping[str, float] | None = None,
) -> RevenueShare:
    """Attribute ``usage`` (one month) and the customers' subscription charges to authors.

    ``subscription_minor``: customer → subscription amount invoiced for the month;
    ``outcomes``: signal id → forward return in the signal's direction (bps), for statements.
    """
    usage = list(usage)
    outcomes = outcomes or {}
    by_customer: dict[str, list[UsageEvent]] = defaultdict(list)
    for event in usage:
        by_customer[event.customer_id].append(event)
    slices: dict[str, int] = {}
    for customer, events in by_customer.items():
        amount = subscription_minor.get(customer, 0)
        slices.update(allocate(amount, {e.usage_id: 1.0 for e in events}))

    attributed: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    lines: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    line_meta: dict[tuple[str, str, str], tuple[str, float]] = {}
    for event in usage:
        for account, revenue in (
            ("revenue:signals", event.price_minor),
            ("revenue:subscriptions", slices.get(event.usage_id, 0)),
        ):
            for key, amount in allocate(revenue, event.attribution).items():
                author = catalogue.author_of(origin_of(key))
                attributed[account][author] += amount
                lines[(author, event.signal_id, key)][1] += amount
        for key, part in event.attribution.items():
            line_key = (catalogue.author_of(origin_of(key)), event.signal_id, key)
            lines[line_key][0] += 1
            line_meta[line_key] = (event.asset, part)

    result = RevenueShare(month, {a: dict(v) for a, v in attributed.items()})
    authors = sorted({a.author for a in catalogue.authors})
    for author in authors:
        total = sum(by.get(author, 0) for by in attributed.values())
        payable = percent_of(total, catalogue.revenue_share.author_percent)
        result.payable_by_author[author] = payable
        author_lines = [
            StatementLine(
                signal_id=signal_id,
                asset=line_meta[(a, signal_id, key)][0],
                source=key,
                share=line_meta[(a, signal_id, key)][1],
                deliveries=count,
                revenue_minor=amount,
                outcome_bps=outcomes.get(signal_id),
            )
            for (a, signal_id, key), (count, amount) in sorted(lines.items())
            if a == author
        ]
        result.statements.append(
            AuthorStatement(
                author=author,
                month=month,
                lines=tuple(author_lines),
                attributed_minor=total,
                payable_minor=payable,
                currency=catalogue.currency,
            )
        )
    return result
