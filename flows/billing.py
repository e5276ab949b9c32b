"""Billing jobs over a store: the monthly close, the check against Stripe, the demo month.

The pure rules live in :mod:`operators.billing`; this module reads the store, calls them and
writes their results (one transaction per close), and talks to Stripe when it is configured.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from connectors.store.billing import (
    billing_closes,
    billing_customers,
    billing_invoices,
    billing_marks,
    billing_portfolios,
    billing_statements,
    billing_subscriptions,
    check_ledger,
    load_stored_catalogue,
    read_postings,
    read_subscriptions,
    read_usage,
    write_postings,
)
from connectors.store.engine import upsert
from connectors.store.market import read_candles
from connectors.store.signals import fused_signals
from connectors.store.trading import equity
from connectors.stripe.client import PlanPrices, StripeBilling
from operators.billing.catalogue import Catalogue
from operators.billing.close import CloseResult, Portfolio, close_month, month_bounds
from operators.billing.performance_fee import HighWaterMark
from schemas.billing import STRIPE_CYCLE, Charge, Invoice, UsageEvent
from schemas.common import DEFAULT_PORTFOLIO, datetime_to_ns

OUTCOME_HORIZON = timedelta(hours=4)


class BillingError(RuntimeError):
    """A billing job that cannot proceed; the message says why and what to do."""


def stored_catalogue(engine: Engine) -> Catalogue:
    catalogue = load_stored_catalogue(engine)
    if catalogue is None:
        raise BillingError("the store has no billing catalogue: run `quorum billing plans --store`")
    return catalogue


# --- inputs of the close ---------------------------------------------------------------------


def portfolio_equity_minor(
    engine: Engine,
    run_id: str,
    capital_minor: int,
    end: datetime,
    portfolio: str | None = None,
) -> int:
    """A follower's equity at ``end``: the equity curve of one portfolio of the run (the
    default portfolio unless named) scaled to ``capital_minor``.

    The run's money is in its quote currency (USDT for the shipped data), taken 1:1 as the
    billing currency.
    """
    stmt = (
        select(equity.c.ts, equity.c.equity)
        .where(
            equity.c.run_id == run_id,
            equity.c.portfolio == (portfolio or DEFAULT_PORTFOLIO),
            equity.c.ts < datetime_to_ns(end),
        )
        .order_by(equity.c.ts)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    if not rows:
        return capital_minor
    first, last = Decimal(rows[0].equity), Decimal(rows[-1].equity)
    scaled = Decimal(capital_minor) * last / first
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _portfolios(engine: Engine, month: str, end: datetime) -> dict[str, Portfolio]:
    out: dict[str, Portfolio] = {}
    with engine.connect() as conn:
        followers = conn.execute(select(billing_portfolios)).all()
        for row in followers:
            previous = conn.execute(
                select(billing_marks)
                .where(
                    billing_marks.c.customer_id == row.customer_id, billing_marks.c.month < month
                )
                .order_by(billing_marks.c.month.desc())
                .limit(1)
            ).first()
            mark = (
                HighWaterMark(int(row.capital_minor))
                if previous is None
                else HighWaterMark(int(previous.mark_minor), int(previous.fees_charged_minor))
            )
            equity_minor = portfolio_equity_minor(
                engine, row.run_id, int(row.capital_minor), end, row.portfolio
            )
            out[row.customer_id] = Portfolio(equity_minor, mark)
    return out


def signal_outcomes(engine: Engine, usage: list[UsageEvent]) -> dict[str, float]:
    """Forward return over 4 h in each delivered signal's direction, in bps (1m closes)."""
    ids = sorted({u.signal_id for u in usage})
    if not ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                fused_signals.c.fused_id,
                fused_signals.c.asset,
                fused_signals.c.ts,
                fused_signals.c.direction,
            ).where(fused_signals.c.fused_id.in_(ids))
        ).all()
    by_asset: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_asset[row.asset].append(row)
    out: dict[str, float] = {}
    for asset, signals in by_asset.items():
        candles = read_candles(engine, asset, "1m")
        if candles.is_empty():
            continue
        times = candles["ts"].dt.epoch("ns").to_list()
        closes = candles["close"].to_list()
        for row in signals:
            i = bisect_right(times, int(row.ts)) - 1
            j = bisect_right(times, int(row.ts) + int(OUTCOME_HORIZON.total_seconds() * 1e9)) - 1
            if i < 0 or j <= i:
                continue
            sign = {"long": 1, "short": -1}.get(row.direction, 0)
            out[row.fused_id] = round(sign * (closes[j] / closes[i] - 1) * 10_000, 2)
    return out


# --- the close ---------------------------------------------------------------------------------


@dataclass
class CloseReport:
    result: CloseResult
    already_closed: bool
    pushed_to_stripe: list[str] = field(default_factory=list)
    usage_reported: int = 0


def _close_digest(result: CloseResult) -> str:
    content = {
        "invoices": [i.model_dump(mode="json") for i in result.invoices],
        "postings": [p.model_dump(mode="json") for p in result.postings],
        "statements": [s.model_dump(mode="json") for s in result.statements],
    }
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def close(engine: Engine, month: str, *, stripe: StripeBilling | None = None) -> CloseReport:
    """Close ``month``: invoices, author statements, performance fees, ledger postings.

    Idempotent: a month already closed with the same figures changes nothing; a month whose
    figures changed since (late usage, a new subscription) is refused — correct it with
    reversals, never by rewriting.
    """
    try:
        start, end = month_bounds(month)
    except ValueError as exc:
        raise BillingError(str(exc)) from None
    catalogue = stored_catalogue(engine)
    usage = read_usage(engine, start=start, end=end)
    cycle: dict[str, list[Charge]] = {}
    usage_reported = 0
    billed_by_stripe = _stripe_subscriptions(engine)
    if billed_by_stripe and stripe is None:
        raise BillingError(
            f"{', '.join(sorted(billed_by_stripe))}: billed by Stripe's subscription cycle; "
            "close with --stripe so the close reads Stripe's invoices"
        )
    if stripe is not None:
        # the meter first: Stripe's cycle bills metered signals from these events
        usage_reported = stripe.report_usage(usage, _stripe_customers(engine))
        seconds = [datetime_to_ns(t) // 1_000_000_000 for t in (start, end)]
        for customer, ids in sorted(billed_by_stripe.items()):
            try:
                cycle[customer] = [c for i in ids for c in stripe.cycle_charges(i, *seconds)]
            except ValueError as exc:
                raise BillingError(str(exc)) from None
    result = close_month(
        month,
        catalogue,
        read_subscriptions(engine),
        usage,
        _portfolios(engine, month, end),
        signal_outcomes(engine, usage),
        cycle,
    )
    digest = _close_digest(result)
    with engine.begin() as conn:
        done = conn.execute(
            select(billing_closes.c.digest).where(billing_closes.c.month == month)
        ).first()
        if done is not None and done.digest != digest:
            raise BillingError(
                f"{month} is already closed with other figures (usage or subscriptions changed "
                "since): post a correction by reversal instead of closing again"
            )
        already = done is not None
        if not already:
            write_postings(conn, result.postings)
            upsert(
                conn,
                billing_invoices,
                [_invoice_row(i) for i in result.invoices],
                ("invoice_id",),
                update=False,
            )
            upsert(
                conn,
                billing_statements,
                [
                    {
                        "author": s.author,
                        "month": month,
                        "payable_minor": s.payable_minor,
                        "statement": s.model_dump(mode="json"),
                    }
                    for s in result.statements
                ],
                ("author", "month"),
            )
            upsert(
                conn,
                billing_marks,
                [
                    {
                        "customer_id": c,
                        "month": month,
                        "mark_minor": m.mark_minor,
                        "fees_charged_minor": m.fees_charged_minor,
                    }
                    for c, m in result.marks.items()
                ],
                ("customer_id", "month"),
            )
            conn.execute(
                billing_closes.insert().values(
                    month=month,
                    digest=digest,
                    closed_at=datetime_to_ns(datetime.now().astimezone()),
                    kpis=result.kpis.as_dict() if result.kpis else {},
                )
            )
    report = CloseReport(result, already, usage_reported=usage_reported)
    if stripe is not None:
        report.pushed_to_stripe = push_invoices(engine, stripe, month)
    return report


def _invoice_row(invoice: Any) -> dict[str, Any]:
    return {
        "invoice_id": invoice.invoice_id,
        "customer_id": invoice.customer_id,
        "month": invoice.month,
        "total_minor": invoice.total_minor,
        "currency": invoice.currency,
        "lines": [line.model_dump(mode="json") for line in invoice.lines],
        "stripe_invoice_id": None,
    }


def _stripe_customers(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(billing_customers.c.customer_id, billing_customers.c.stripe_customer_id)
        ).all()
    return {r.customer_id: r.stripe_customer_id for r in rows if r.stripe_customer_id}


def _stripe_subscriptions(engine: Engine) -> dict[str, list[str]]:
    """``customer → Stripe subscription ids``: the plans Stripe's own cycle bills."""
    stmt = select(
        billing_subscriptions.c.customer_id, billing_subscriptions.c.stripe_subscription_id
    ).where(billing_subscriptions.c.stripe_subscription_id.is_not(None))
    out: dict[str, list[str]] = defaultdict(list)
    with engine.connect() as conn:
        for row in conn.execute(stmt):
            out[row.customer_id].append(row.stripe_subscription_id)
    return dict(out)


def push_invoices(engine: Engine, stripe: StripeBilling, month: str) -> list[str]:
    """Send the month's invoices to Stripe (idempotent keys) and record their Stripe ids.

    Only the lines Quorum bills itself are sent: those Stripe's cycle billed are Stripe's already.
    """
    customers = _stripe_customers(engine)
    with engine.connect() as conn:
        rows = conn.execute(select(billing_invoices).where(billing_invoices.c.month == month)).all()
    pushed = []
    for row in rows:
        whole = _stored_invoice(row)
        if whole.quorum_total_minor == 0 or row.customer_id not in customers:
            continue
        invoice = whole.model_copy(update={"lines": whole.quorum_lines})
        created = stripe.create_invoice(invoice, customers[row.customer_id])
        with engine.begin() as conn:
            conn.execute(
                update(billing_invoices)
                .where(billing_invoices.c.invoice_id == row.invoice_id)
                .values(stripe_invoice_id=created.id)
            )
        pushed.append(created.id)
    return pushed


def _stored_invoice(row: Any) -> Invoice:
    return Invoice(
        invoice_id=row.invoice_id,
        customer_id=row.customer_id,
        month=row.month,
        currency=row.currency,
        lines=tuple(Charge.model_validate(x) for x in row.lines),
    )


# --- the check ---------------------------------------------------------------------------------


@dataclass
class CheckReport:
    postings: int
    invoices: int
    problems: list[str]
    stripe_checked: bool

    @property
    def ok(self) -> bool:
        return not self.problems


def check(engine: Engine, stripe: StripeBilling | None) -> CheckReport:
    """The ledger balances, each invoice has its posting, and Stripe agrees (when given).

    Stripe agrees when (read back with the SDK's list calls):

    * every invoice sent there has the same total on Stripe, every invoice that should have
      been sent was, and Stripe holds no Quorum invoice the store does not know;
    * every invoice Stripe reports paid has a payment posting of the amount paid;
    * for every closed month and customer synced to Stripe, Stripe's Billing Meter holds as
      many signals as the store's priced usage (meter event summaries over the month).
    """
    ledger = check_ledger(engine)
    problems = list(ledger.problems)
    with engine.connect() as conn:
        invoices = conn.execute(select(billing_invoices)).all()
    postings = {p.posting_id: p for p in read_postings(engine)}
    for row in invoices:
        posting = postings.get(f"invoice:{row.invoice_id}")
        booked = 0 if posting is None else posting.total_debits()
        if booked != row.total_minor:
            problems.append(
                f"invoice {row.invoice_id} totals {row.total_minor} but the ledger booked {booked}"
            )
    if stripe is not None:
        customers = _stripe_customers(engine)
        remote = {inv.id: inv for inv in stripe.invoices()}
        for row in invoices:
            ours = _stored_invoice(row).quorum_total_minor  # Stripe's cycle lines are its own
            if ours and row.customer_id in customers and not row.stripe_invoice_id:
                problems.append(f"invoice {row.invoice_id} was never sent to Stripe")
            if not row.stripe_invoice_id:
                continue
            theirs = remote.get(row.stripe_invoice_id)
            if theirs is None:
                problems.append(f"Stripe has no invoice {row.stripe_invoice_id} ({row.invoice_id})")
            elif int(theirs.total) != ours:
                problems.append(f"invoice {row.invoice_id}: Stripe total {theirs.total} ≠ {ours}")
        known = {row.invoice_id for row in invoices}
        for inv in remote.values():
            quorum_id = inv.to_dict().get("metadata", {}).get("quorum_invoice_id")
            if quorum_id is not None and quorum_id not in known:
                problems.append(
                    f"Stripe invoice {inv.id} carries Quorum invoice {quorum_id}, unknown here"
                )
            if inv.status == "paid":
                paid = postings.get(f"payment:{inv.id}")
                booked = 0 if paid is None else paid.total_debits()
                if booked != int(inv.amount_paid):
                    problems.append(
                        f"Stripe invoice {inv.id} is paid ({inv.amount_paid}) but the ledger "
                        f"booked {booked}"
                    )
        problems.extend(_usage_disagreements(engine, stripe, customers))
        problems.extend(_cycle_disagreements(engine, stripe, invoices))
    return CheckReport(ledger.postings, len(invoices), problems, stripe is not None)


def _cycle_disagreements(engine: Engine, stripe: StripeBilling, invoices: list[Any]) -> list[str]:
    """Invoices whose lines from Stripe's cycle no longer add up to what Stripe billed."""
    billed_by_stripe = _stripe_subscriptions(engine)
    problems = []
    for row in invoices:
        ids = billed_by_stripe.get(row.customer_id)
        if not ids:
            continue
        booked = sum(
            c.amount_minor for c in _stored_invoice(row).lines if c.kind.startswith(STRIPE_CYCLE)
        )
        start, end = (datetime_to_ns(t) // 1_000_000_000 for t in month_bounds(row.month))
        theirs = sum(c.amount_minor for i in ids for c in stripe.cycle_charges(i, start, end))
        if theirs != booked:
            problems.append(
                f"invoice {row.invoice_id}: Stripe's subscription cycle billed {theirs} for "
                f"{row.month}, the close booked {booked}"
            )
    return problems


def _usage_disagreements(
    engine: Engine, stripe: StripeBilling, customers: dict[str, str]
) -> list[str]:
    """Closed months where Stripe's meter and the store's priced usage differ, per customer."""
    with engine.connect() as conn:
        months = [r.month for r in conn.execute(select(billing_closes.c.month))]
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for month in sorted(months):
        start, end = month_bounds(month)
        for u in read_usage(engine, start=start, end=end):
            if u.price_minor and u.customer_id in customers:
                expected[(month, u.customer_id)] += 1
    if not expected:
        return []
    meter = stripe.meter_id()
    if meter is None:
        return [f"Stripe has no active meter {stripe.config.meter_event_name!r}: run sync"]
    problems = []
    for month in sorted(months):
        start, end = (datetime_to_ns(t) // 1_000_000_000 for t in month_bounds(month))
        for customer, stripe_id in sorted(customers.items()):
            theirs = stripe.metered_signals(meter, stripe_id, start, end)
            ours = expected.get((month, customer), 0)
            if theirs != ours:
                problems.append(
                    f"usage of {customer} in {month}: {ours} priced signals here, "
                    f"{theirs} on Stripe's meter"
                )
    return problems


# --- Stripe sync -------------------------------------------------------------------------------


@dataclass
class SyncReport:
    meter: str
    products: dict[str, str]
    customers: dict[str, str]
    subscriptions: dict[str, str] = field(default_factory=dict)


def sync_stripe(
    engine: Engine, stripe: StripeBilling, *, subscriptions: bool = False
) -> SyncReport:
    """Mirror the stored catalogue (meter, products, prices) and the customers in Stripe.

    Every call carries a key derived from what it creates, so a sync run again creates nothing
    new; customers get their Stripe id recorded in the store. With ``subscriptions``, every
    subscription that has not ended gets a Stripe subscription on its plan's prices (recorded
    in the store): from then on Stripe's own cycle bills that plan's fee and metered signals,
    and the close books Stripe's invoices for it instead of computing them.
    """
    catalogue = stored_catalogue(engine)
    meter = stripe.ensure_meter(catalogue)
    prices = {p.plan_id: stripe.ensure_plan(catalogue, p, meter) for p in catalogue.plans}
    products = {plan_id: found.product for plan_id, found in prices.items()}
    with engine.connect() as conn:
        rows = conn.execute(select(billing_customers).order_by(billing_customers.c.customer_id))
        customers = [dict(r._mapping) for r in rows]
    synced: dict[str, str] = {}
    for row in customers:
        stripe_id = row["stripe_customer_id"] or stripe.create_customer(
            row["customer_id"], row["name"], row["email"]
        )
        if row["stripe_customer_id"] is None:
            with engine.begin() as conn:
                conn.execute(
                    update(billing_customers)
                    .where(billing_customers.c.customer_id == row["customer_id"])
                    .values(stripe_customer_id=stripe_id)
                )
        synced[row["customer_id"]] = stripe_id
    report = SyncReport(meter, products, synced)
    if subscriptions:
        report.subscriptions = _sync_subscriptions(engine, stripe, catalogue, prices, synced)
    return report


def _sync_subscriptions(
    engine: Engine,
    stripe: StripeBilling,
    catalogue: Catalogue,
    prices: dict[str, PlanPrices],
    customers: dict[str, str],
) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(billing_subscriptions).where(
                billing_subscriptions.c.stripe_subscription_id.is_(None),
                billing_subscriptions.c.ended_at.is_(None),
            )
        ).all()
    created: dict[str, str] = {}
    for row in rows:
        trial = catalogue.plan(row.plan_id).trial_days if row.status == "trialing" else 0
        made = stripe.create_subscription(
            row.subscription_id, customers[row.customer_id], prices[row.plan_id], trial
        )
        with engine.begin() as conn:
            conn.execute(
                update(billing_subscriptions)
                .where(billing_subscriptions.c.subscription_id == row.subscription_id)
                .values(stripe_subscription_id=made.id)
            )
        created[row.subscription_id] = made.id
    return created
