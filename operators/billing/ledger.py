"""Chart of accounts and the postings billing makes: pure builders of balanced postings.

Accounts (debit-positive balances):

* ``receivable:<customer>`` — what a customer owes (asset);
* ``cash:stripe`` — money collected through Stripe (asset);
* ``revenue:subscriptions`` / ``revenue:signals`` / ``revenue:performance`` — earned (credit);
* ``payable:author:<author>`` — owed to a source author (credit);
* ``fees:platform`` — the platform's cut of revenue it shares with authors (credit);
* ``refunds`` — money given back (debit).

Posting ids are deterministic (kind, month, party), so closing a month twice produces the same
postings and the store skips them.

>>> from datetime import UTC, datetime
>>> from schemas.billing import Charge, Invoice
>>> inv = Invoice(invoice_id="inv-2022-01-ana", customer_id="ana", month="2022-01", lines=(
...     Charge(kind="subscription", description="Pro", unit_minor=9900, amount_minor=9900),
...     Charge(kind="usage", description="12 signals", quantity=12, unit_minor=50,
...            amount_minor=600)))
>>> p = invoice_posting(inv, datetime(2022, 2, 1, tzinfo=UTC))
>>> [(e.account, e.amount_minor) for e in p.entries]
[('receivable:ana', 10500), ('revenue:subscriptions', -9900), ('revenue:signals', -600)]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

from schemas.billing import Invoice, LedgerEntry, Posting

CASH = "cash:stripe"
PLATFORM_FEES = "fees:platform"
REFUNDS = "refunds"
REVENUE_BY_CHARGE = {
    "subscription": "revenue:subscriptions",
    "usage": "revenue:signals",
    "performance_fee": "revenue:performance",
    "stripe_subscription": "revenue:subscriptions",
    "stripe_usage": "revenue:signals",
}


def receivable(customer_id: str) -> str:
    return f"receivable:{customer_id}"


def payable(author: str) -> str:
    return f"payable:author:{author}"


def invoice_posting(invoice: Invoice, ts: datetime) -> Posting | None:
    """Dr the customer's receivable, Cr revenue by kind of charge (``None`` for a zero invoice)."""
    revenue: dict[str, int] = defaultdict(int)
    for line in invoice.lines:
        if line.amount_minor:
            revenue[REVENUE_BY_CHARGE[line.kind]] += line.amount_minor
    total = sum(revenue.values())
    if total == 0:
        return None
    entries = [
        LedgerEntry(
            account=receivable(invoice.customer_id), amount_minor=total, currency=invoice.currency
        )
    ]
    entries += [
        LedgerEntry(account=account, amount_minor=-amount, currency=invoice.currency)
        for account, amount in revenue.items()
    ]
    return Posting(
        posting_id=f"invoice:{invoice.invoice_id}",
        ts=ts,
        kind="invoice",
        memo=f"invoice {invoice.month} for {invoice.customer_id}",
        entries=tuple(entries),
    )


def _transfer(
    posting_id: str,
    kind: str,
    memo: str,
    debit: str,
    credit: str,
    amount: int,
    ts: datetime,
    currency: str,
) -> Posting:
    """A two-line posting: Dr ``debit``, Cr ``credit`` by ``amount``."""
    return Posting(
        posting_id=posting_id,
        ts=ts,
        kind=kind,
        memo=memo,
        entries=(
            LedgerEntry(account=debit, amount_minor=amount, currency=currency),
            LedgerEntry(account=credit, amount_minor=-amount, currency=currency),
        ),
    )


def payment_posting(
    payment_id: str, customer_id: str, amount_minor: int, ts: datetime, currency: str = "usd"
) -> Posting:
    """Dr cash, Cr the customer's receivable: an invoice paid."""
    return _transfer(
        f"payment:{payment_id}",
        "payment",
        f"payment {payment_id} from {customer_id}",
        CASH,
        receivable(customer_id),
        amount_minor,
        ts,
        currency,
    )


def refund_posting(
    refund_id: str, customer_id: str, amount_minor: int, ts: datetime, currency: str = "usd"
) -> Posting:
    """Dr refunds, Cr cash: money given back to a customer."""
    return _transfer(
        f"refund:{refund_id}",
        "refund",
        f"refund {refund_id} to {customer_id}",
        REFUNDS,
        CASH,
        amount_minor,
        ts,
        currency,
    )


def revenue_share_posting(
    month: str,
    attributed: Mapping[str, Mapping[str, int]],
    payable_by_author: Mapping[str, int],
    ts: datetime,
    currency: str = "usd",
) -> Posting | None:
    """Move attributed revenue to the authors' payables; the platform keeps the rest as fees.

    ``attributed``: revenue account → author → amount attributed; ``payable_by_author``: what
    each author is owed of it. Dr each revenue account by what it attributed; Cr the payables
    and, for the difference, ``fees:platform``.
    """
    debits = {acc: sum(by_author.values()) for acc, by_author in attributed.items()}
    total = sum(debits.values())
    if total == 0:
        return None
    entries = [
        LedgerEntry(account=acc, amount_minor=amount, currency=currency)
        for acc, amount in debits.items()
        if amount
    ]
    entries += [
        LedgerEntry(account=payable(author), amount_minor=-amount, currency=currency)
        for author, amount in payable_by_author.items()
        if amount
    ]
    platform = total - sum(payable_by_author.values())
    if platform:
        entries.append(
            LedgerEntry(account=PLATFORM_FEES, amount_minor=-platform, currency=currency)
        )
    return Posting(
        posting_id=f"revenue_share:{month}",
        ts=ts,
        kind="revenue_share",
        memo=f"revenue share {month}",
        entries=tuple(entries),
    )
