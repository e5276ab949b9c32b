"""Billing records: usage events, ledger postings, invoice charges and author statements.

Money is an ``int`` of minor units (cents for ``usd``) with its ISO currency code in lower
case, as Stripe counts it: no rounding ever happens inside a record. A posting's entries are
signed: debits positive, credits negative, so a balanced posting sums to zero per currency.

>>> from datetime import UTC, datetime
>>> t = datetime(2022, 1, 31, tzinfo=UTC)
>>> p = Posting(posting_id="p1", ts=t, kind="invoice", memo="January",
...             entries=(LedgerEntry(account="receivable:ana", amount_minor=1900),
...                      LedgerEntry(account="revenue:subscriptions", amount_minor=-1900)))
>>> p.total_debits()
1900
>>> Posting(posting_id="p2", ts=t, kind="invoice", memo="bad",
...         entries=(LedgerEntry(account="receivable:ana", amount_minor=1900),
...                  LedgerEntry(account="revenue:subscriptions", amount_minor=-1800)))
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for Posting
  Value error, posting p2 does not balance: usd sums to 100 (debits must equal credits) ...
"""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum

from pydantic import Field, model_validator

from schemas.common import Frozen, UtcDatetime

Currency = str


class Channel(StrEnum):
    """How a customer receives signals."""

    API = "api"
    SSE = "sse"
    KAFKA = "kafka"
    WEBHOOK = "webhook"


class SubscriptionStatus(StrEnum):
    """Stripe's subscription states that Quorum acts on."""

    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    EXPIRED = "expired"
    """A trial that ended without a payment method: no access, never invoiced."""


class UsageEvent(Frozen):
    """One signal delivered to one customer: what the metering sink records, once."""

    usage_id: str = Field(description="Deterministic from customer and signal: the dedupe key")
    customer_id: str = Field(min_length=1)
    signal_id: str = Field(min_length=1, description="The fused signal delivered")
    asset: str
    decision: str
    plan_id: str
    price_minor: int = Field(ge=0, description="Price of this delivery in minor units")
    currency: Currency = "usd"
    delivered_at: UtcDatetime = Field(description="When the customer may see it (time + delay)")
    attribution: dict[str, float] = Field(
        default_factory=dict,
        description="Source (origin@timeframe) → its part of the signal, summing to 1",
    )


class LedgerEntry(Frozen):
    """One line of a posting: a signed amount on one account (debit > 0, credit < 0)."""

    account: str = Field(min_length=1, description="e.g. receivable:ana, payable:author:bo")
    amount_minor: int = Field(description="Debit positive, credit negative, minor units")
    currency: Currency = "usd"

    @model_validator(mode="after")
    def _non_zero(self) -> LedgerEntry:
        if self.amount_minor == 0:
            raise ValueError(f"ledger entry on {self.account} has amount 0: omit it")
        return self


class Posting(Frozen):
    """A balanced, immutable journal entry; corrections are new postings that reverse it."""

    posting_id: str = Field(min_length=1, description="Deterministic: the idempotency key")
    ts: UtcDatetime
    kind: str = Field(description="invoice | payment | revenue_share | refund | reversal | …")
    memo: str = ""
    entries: tuple[LedgerEntry, ...]
    reverses: str | None = Field(default=None, description="The posting this one reverses")

    @model_validator(mode="after")
    def _balanced(self) -> Posting:
        if len(self.entries) < 2:
            raise ValueError(f"posting {self.posting_id} needs at least two entries")
        sums: dict[str, int] = defaultdict(int)
        for entry in self.entries:
            sums[entry.currency] += entry.amount_minor
        for currency, total in sums.items():
            if total != 0:
                raise ValueError(
                    f"posting {self.posting_id} does not balance: {currency} sums to {total} "
                    "(debits must equal credits)"
                )
        return self

    def total_debits(self) -> int:
        return sum(e.amount_minor for e in self.entries if e.amount_minor > 0)


STRIPE_CYCLE = "stripe_"
"""Prefix of the charge kinds Stripe's subscription cycle billed."""


class Charge(Frozen):
    """One line of a customer's invoice."""

    kind: str = Field(
        description="subscription | usage | performance_fee; stripe_subscription | "
        "stripe_usage for lines Stripe's own subscription cycle billed (read back, never re-sent)"
    )
    description: str
    quantity: int = Field(default=1, ge=0)
    unit_minor: int = Field(ge=0)
    amount_minor: int = Field(ge=0)
    currency: Currency = "usd"


class Invoice(Frozen):
    """A customer's invoice for one month (what Stripe is asked to charge)."""

    invoice_id: str
    customer_id: str
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    lines: tuple[Charge, ...]
    currency: Currency = "usd"

    @property
    def total_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)

    @property
    def quorum_lines(self) -> tuple[Charge, ...]:
        """The lines Quorum bills itself (what ``close --stripe`` sends as an invoice)."""
        return tuple(line for line in self.lines if not line.kind.startswith(STRIPE_CYCLE))

    @property
    def quorum_total_minor(self) -> int:
        return sum(line.amount_minor for line in self.quorum_lines)


class StatementLine(Frozen):
    """One signal in an author's statement: what it earned them and how it turned out."""

    signal_id: str
    asset: str
    source: str = Field(description="origin@timeframe of the author's contribution")
    share: float = Field(description="The source's part of the fused signal")
    deliveries: int = Field(ge=0)
    revenue_minor: int = Field(ge=0, description="Revenue attributed to this source")
    outcome_bps: float | None = Field(
        default=None, description="Forward return in the signal's direction, when known"
    )


class AuthorStatement(Frozen):
    """What a source author is owed for one month."""

    author: str
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    lines: tuple[StatementLine, ...]
    attributed_minor: int = Field(ge=0, description="Revenue attributed to the author's sources")
    payable_minor: int = Field(ge=0, description="The author's share of it")
    currency: Currency = "usd"


class Subscription(Frozen):
    """A customer's subscription to one plan, as Quorum tracks it (Stripe mirrors it)."""

    subscription_id: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    plan_id: str
    status: SubscriptionStatus
    started_at: UtcDatetime
    trial_ends_at: UtcDatetime | None = None
    past_due_since: UtcDatetime | None = None
    ended_at: UtcDatetime | None = Field(default=None, description="Canceled or expired at")
    past_due_periods: tuple[tuple[UtcDatetime, UtcDatetime], ...] = Field(
        default=(),
        description="Closed past-due periods [since, until), kept when the subscription is "
        "reactivated so entitlements and the close still see them",
    )
