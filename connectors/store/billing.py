"""Billing tables of the store: catalogue versions, customers, subscriptions, usage, ledger.

Time columns are ``BIGINT`` ns since the epoch (UTC); money is ``BIGINT`` minor units.

* ``billing_catalogues``: every catalogue version seen, with its content digest; a version is
  never rewritten with other content (:class:`CatalogueConflictError`).
* ``billing_customers`` / ``billing_subscriptions``: who subscribes to what, and since when
  (the subscription's dates drive :func:`operators.billing.entitlements.status_at`).
* ``billing_usage``: one row per (customer, signal) delivered, keyed by the deterministic
  ``usage_id``; inserts of a key already stored are ignored, so a replay meters once.
* ``ledger_postings`` / ``ledger_entries``: the double-entry journal. Rows are only inserted;
  a posting id already stored with the same content is skipped, with other content refused
  (:class:`LedgerConflictError`); corrections are reversal postings. Each new posting is
  appended to the audit chain in the same transaction.
* ``billing_webhook_endpoints``: each customer's webhook URL and the reference of its signing
  secret (``env:NAME`` or ``file:PATH``; never the secret itself);
  ``billing_push_cursors``: per customer and push channel (kafka, webhook), the stream
  position of the last signal delivered or passed over.
* ``stripe_events`` / ``stripe_subscription_marks``: webhook event ids applied (each once) and
  the newest event applied per subscription (older ones are stale).

>>> from datetime import UTC, datetime
>>> from connectors.store.engine import open_store
>>> from schemas.billing import LedgerEntry, Posting
>>> engine = open_store("sqlite://")
>>> t = datetime(2022, 1, 31, tzinfo=UTC)
>>> p = Posting(posting_id="inv:1", ts=t, kind="invoice", entries=(
...     LedgerEntry(account="receivable:ana", amount_minor=2900),
...     LedgerEntry(account="revenue:subscriptions", amount_minor=-2900)))
>>> write_postings(engine, [p]), write_postings(engine, [p])
(1, 0)
>>> balances(engine)["receivable:ana"]
{'usd': 2900}
>>> write_postings(engine, [reversal_of(p, t, "sent twice")])
1
>>> balances(engine).get("receivable:ana"), check_ledger(engine).ok
(None, True)
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.engine import Connection, Engine

from connectors.store.audit import _begin, append_events
from connectors.store.engine import metadata, upsert
from operators.audit.chain import AuditEvent
from operators.billing.catalogue import Catalogue, parse_catalogue
from schemas.billing import (
    LedgerEntry,
    Posting,
    Subscription,
    SubscriptionStatus,
    UsageEvent,
)
from schemas.common import datetime_to_ns, ns_to_datetime

_ID = 96
_NAME = 128

billing_catalogues = Table(
    "billing_catalogues",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False, comment="sha256 of the canonical content"),
    Column("content", Text, nullable=False, comment="canonical JSON"),
    Column("stored_at", BigInteger, nullable=False),
)

billing_customers = Table(
    "billing_customers",
    metadata,
    Column("customer_id", String(_NAME), primary_key=True, comment="= the API key's owner"),
    Column("name", String(_NAME), nullable=False),
    Column("email", String(_NAME), nullable=False),
    Column("stripe_customer_id", String(_ID)),
    Column("created_at", BigInteger, nullable=False),
)

billing_subscriptions = Table(
    "billing_subscriptions",
    metadata,
    Column("subscription_id", String(_ID), primary_key=True),
    Column("customer_id", String(_NAME), nullable=False),
    Column("plan_id", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("trial_ends_at", BigInteger),
    Column("past_due_since", BigInteger),
    Column("ended_at", BigInteger),
    Column("stripe_subscription_id", String(_ID)),
    Column("past_due_periods", JSON, comment="closed past-due periods: [[since, until] ns]"),
    Index("ix_billing_subscriptions_customer", "customer_id"),
)

billing_usage = Table(
    "billing_usage",
    metadata,
    Column("usage_id", String(_ID), primary_key=True, comment="hash of customer and signal"),
    Column("customer_id", String(_NAME), nullable=False),
    Column("signal_id", String(_ID), nullable=False),
    Column("asset", String(64), nullable=False),
    Column("decision", String(8), nullable=False),
    Column("plan_id", String(32), nullable=False),
    Column("price_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("delivered_at", BigInteger, nullable=False),
    Column("attribution", JSON, nullable=False),
    Index("ix_billing_usage_customer_time", "customer_id", "delivered_at"),
)

ledger_postings = Table(
    "ledger_postings",
    metadata,
    Column("posting_id", String(_ID), primary_key=True),
    Column("ts", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("memo", Text, nullable=False),
    Column("reverses", String(_ID), unique=True, comment="a posting is reversed at most once"),
    Column("digest", String(64), nullable=False, comment="content hash: replays must match"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("posting_id", String(_ID), primary_key=True),
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("account", String(_NAME), nullable=False),
    Column("amount_minor", BigInteger, nullable=False, comment="debit > 0, credit < 0"),
    Column("currency", String(3), nullable=False),
    Index("ix_ledger_entries_account", "account"),
)


billing_invoices = Table(
    "billing_invoices",
    metadata,
    Column("invoice_id", String(_ID), primary_key=True),
    Column("customer_id", String(_NAME), nullable=False),
    Column("month", String(7), nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("lines", JSON, nullable=False),
    Column("stripe_invoice_id", String(_ID)),
    Index("ix_billing_invoices_month", "month"),
)

billing_statements = Table(
    "billing_statements",
    metadata,
    Column("author", String(_NAME), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("payable_minor", BigInteger, nullable=False),
    Column("statement", JSON, nullable=False),
)

billing_portfolios = Table(
    "billing_portfolios",
    metadata,
    Column("customer_id", String(_NAME), primary_key=True),
    Column(
        "run_id", String(_ID), nullable=False, comment="the paper/live run the customer follows"
    ),
    Column("capital_minor", BigInteger, nullable=False, comment="starting capital = first mark"),
    Column(
        "portfolio",
        String(_NAME),
        nullable=True,
        comment="the run's portfolio followed (none: the default portfolio)",
    ),
)

billing_marks = Table(
    "billing_marks",
    metadata,
    Column("customer_id", String(_NAME), primary_key=True),
    Column("month", String(7), primary_key=True, comment="state after this month's close"),
    Column("mark_minor", BigInteger, nullable=False),
    Column("fees_charged_minor", BigInteger, nullable=False),
)

billing_closes = Table(
    "billing_closes",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("digest", String(64), nullable=False, comment="hash of the invoices and postings"),
    Column("closed_at", BigInteger, nullable=False),
    Column("kpis", JSON, nullable=False),
)

billing_webhook_endpoints = Table(
    "billing_webhook_endpoints",
    metadata,
    Column("customer_id", String(_NAME), primary_key=True),
    Column("url", Text, nullable=False, comment="where signed POSTs go"),
    Column("secret_ref", String(_NAME), nullable=False, comment="env:NAME or file:PATH"),
)

billing_push_cursors = Table(
    "billing_push_cursors",
    metadata,
    Column("customer_id", String(_NAME), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("ts", BigInteger, nullable=False, comment="stream position: fused signal time, ns"),
    Column("fused_id", String(_ID), nullable=False, comment="stream position: tie-breaking id"),
)


stripe_events = Table(
    "stripe_events",
    metadata,
    Column("event_id", String(96), primary_key=True),
    Column("type", String(96), nullable=False),
    Column("created", BigInteger, nullable=False, comment="Stripe's created, s since the epoch"),
    Column("outcome", String(32), nullable=False, comment="applied | stale | ignored"),
)

subscription_event_marks = Table(
    "stripe_subscription_marks",
    metadata,
    Column("subscription_id", String(96), primary_key=True),
    Column("last_event_created", BigInteger, nullable=False),
)


class CatalogueConflictError(RuntimeError):
    """A catalogue version already stored with other content."""


class LedgerConflictError(RuntimeError):
    """A posting id already stored with other content: postings are immutable."""


# --- catalogue ---------------------------------------------------------------------------------


def store_catalogue(conn_or_engine: Connection | Engine, catalogue: Catalogue) -> bool:
    """Store ``catalogue`` under its version; ``False`` when that exact content is stored."""
    with _begin(conn_or_engine) as conn:
        row = conn.execute(
            select(billing_catalogues.c.digest).where(
                billing_catalogues.c.version == catalogue.version
            )
        ).first()
        if row is not None:
            if row.digest != catalogue.digest:
                raise CatalogueConflictError(
                    f"catalogue version {catalogue.version} is stored with other content: "
                    "raise `version` when you change the catalogue"
                )
            return False
        conn.execute(
            billing_catalogues.insert().values(
                version=catalogue.version,
                digest=catalogue.digest,
                content=catalogue.canonical_json().decode(),
                stored_at=datetime_to_ns(datetime.now().astimezone()),
            )
        )
    return True


def load_stored_catalogue(
    conn_or_engine: Connection | Engine, version: int | None = None
) -> Catalogue | None:
    """The stored catalogue of ``version`` (default: the newest), or ``None``."""
    stmt = select(billing_catalogues.c.content)
    if version is None:
        stmt = stmt.order_by(billing_catalogues.c.version.desc()).limit(1)
    else:
        stmt = stmt.where(billing_catalogues.c.version == version)
    with _begin(conn_or_engine) as conn:
        row = conn.execute(stmt).first()
    return None if row is None else parse_catalogue(orjson.loads(row.content), "the store")


# --- customers and subscriptions ---------------------------------------------------------------


def upsert_customer(
    conn_or_engine: Connection | Engine,
    customer_id: str,
    name: str,
    email: str,
    *,
    created_at: datetime,
    stripe_customer_id: str | None = None,
) -> None:
    row = {
        "customer_id": customer_id,
        "name": name,
        "email": email,
        "stripe_customer_id": stripe_customer_id,
        "created_at": datetime_to_ns(created_at),
    }
    upsert(conn_or_engine, billing_customers, [row], ("customer_id",))


def _ns(value: datetime | None) -> int | None:
    return None if value is None else datetime_to_ns(value)


def _dt(value: int | None) -> datetime | None:
    return None if value is None else ns_to_datetime(int(value))


def upsert_subscription(
    conn_or_engine: Connection | Engine,
    sub: Subscription,
    *,
    stripe_subscription_id: str | None = None,
) -> None:
    row = {
        "subscription_id": sub.subscription_id,
        "customer_id": sub.customer_id,
        "plan_id": sub.plan_id,
        "status": sub.status.value,
        "started_at": datetime_to_ns(sub.started_at),
        "trial_ends_at": _ns(sub.trial_ends_at),
        "past_due_since": _ns(sub.past_due_since),
        "ended_at": _ns(sub.ended_at),
        "stripe_subscription_id": stripe_subscription_id,
        "past_due_periods": [
            [datetime_to_ns(a), datetime_to_ns(b)] for a, b in sub.past_due_periods
        ],
    }
    upsert(conn_or_engine, billing_subscriptions, [row], ("subscription_id",))


def _subscription(row: Any) -> Subscription:
    return Subscription(
        subscription_id=row.subscription_id,
        customer_id=row.customer_id,
        plan_id=row.plan_id,
        status=SubscriptionStatus(row.status),
        started_at=ns_to_datetime(int(row.started_at)),
        trial_ends_at=_dt(row.trial_ends_at),
        past_due_since=_dt(row.past_due_since),
        ended_at=_dt(row.ended_at),
        past_due_periods=tuple(
            (ns_to_datetime(int(a)), ns_to_datetime(int(b))) for a, b in row.past_due_periods or ()
        ),
    )


def read_subscriptions(
    conn_or_engine: Connection | Engine, customer_id: str | None = None
) -> list[Subscription]:
    """Subscriptions (of one customer, or all), oldest first."""
    stmt = select(billing_subscriptions).order_by(
        billing_subscriptions.c.started_at, billing_subscriptions.c.subscription_id
    )
    if customer_id is not None:
        stmt = stmt.where(billing_subscriptions.c.customer_id == customer_id)
    with _begin(conn_or_engine) as conn:
        return [_subscription(row) for row in conn.execute(stmt)]


def read_customers(conn_or_engine: Connection | Engine) -> list[dict[str, Any]]:
    with _begin(conn_or_engine) as conn:
        rows = conn.execute(select(billing_customers).order_by(billing_customers.c.customer_id))
        return [dict(row._mapping) for row in rows]


# --- usage -------------------------------------------------------------------------------------


def usage_row(event: UsageEvent) -> dict[str, Any]:
    return {
        "usage_id": event.usage_id,
        "customer_id": event.customer_id,
        "signal_id": event.signal_id,
        "asset": event.asset,
        "decision": event.decision,
        "plan_id": event.plan_id,
        "price_minor": event.price_minor,
        "currency": event.currency,
        "delivered_at": datetime_to_ns(event.delivered_at),
        "attribution": dict(event.attribution),
    }


def write_usage(conn_or_engine: Connection | Engine, events: Iterable[UsageEvent]) -> int:
    """Insert usage events; one already stored (same ``usage_id``) is left as it is."""
    rows = list({r["usage_id"]: r for r in map(usage_row, events)}.values())
    return upsert(conn_or_engine, billing_usage, rows, ("usage_id",), update=False)


def _usage(row: Any) -> UsageEvent:
    return UsageEvent(
        usage_id=row.usage_id,
        customer_id=row.customer_id,
        signal_id=row.signal_id,
        asset=row.asset,
        decision=row.decision,
        plan_id=row.plan_id,
        price_minor=int(row.price_minor),
        currency=row.currency,
        delivered_at=ns_to_datetime(int(row.delivered_at)),
        attribution=row.attribution,
    )


def read_usage(
    conn_or_engine: Connection | Engine,
    *,
    customer_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[UsageEvent]:
    """Usage events in ``[start, end)`` of delivery time, oldest first."""
    stmt = select(billing_usage).order_by(billing_usage.c.delivered_at, billing_usage.c.usage_id)
    if customer_id is not None:
        stmt = stmt.where(billing_usage.c.customer_id == customer_id)
    if start is not None:
        stmt = stmt.where(billing_usage.c.delivered_at >= datetime_to_ns(start))
    if end is not None:
        stmt = stmt.where(billing_usage.c.delivered_at < datetime_to_ns(end))
    with _begin(conn_or_engine) as conn:
        return [_usage(row) for row in conn.execute(stmt)]


# --- push channels -----------------------------------------------------------------------------


def set_webhook_endpoint(
    conn_or_engine: Connection | Engine, customer_id: str, url: str, secret_ref: str
) -> None:
    """Register (or replace) ``customer_id``'s webhook URL and signing-secret reference."""
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"webhook url {url!r} must start with https:// (or http://)")
    if not secret_ref.startswith(("env:", "file:")):
        raise ValueError(
            f"secret {secret_ref!r} must be a reference, env:NAME or file:PATH: the store "
            "never holds the secret itself"
        )
    row = {"customer_id": customer_id, "url": url, "secret_ref": secret_ref}
    upsert(conn_or_engine, billing_webhook_endpoints, [row], ("customer_id",))


def webhook_endpoints(conn_or_engine: Connection | Engine) -> dict[str, tuple[str, str]]:
    """``customer → (url, secret reference)``."""
    with _begin(conn_or_engine) as conn:
        rows = conn.execute(select(billing_webhook_endpoints)).all()
    return {r.customer_id: (r.url, r.secret_ref) for r in rows}


def read_push_cursor(
    conn_or_engine: Connection | Engine, customer_id: str, channel: str
) -> tuple[int, str]:
    """Where ``customer_id``'s ``channel`` stands: ``(ts ns, fused id)``, ``(0, "")`` at first."""
    stmt = select(billing_push_cursors.c.ts, billing_push_cursors.c.fused_id).where(
        billing_push_cursors.c.customer_id == customer_id,
        billing_push_cursors.c.channel == channel,
    )
    with _begin(conn_or_engine) as conn:
        row = conn.execute(stmt).first()
    return (0, "") if row is None else (int(row.ts), str(row.fused_id))


def record_pushes(
    conn_or_engine: Connection | Engine,
    customer_id: str,
    channel: str,
    usage: Sequence[UsageEvent],
    position: tuple[int, str],
) -> None:
    """Meter what was delivered (once per customer and signal) and move the cursor, together."""
    with _begin(conn_or_engine) as conn:
        write_usage(conn, usage)
        row = {
            "customer_id": customer_id,
            "channel": channel,
            "ts": position[0],
            "fused_id": position[1],
        }
        upsert(conn, billing_push_cursors, [row], ("customer_id", "channel"))


# --- ledger ------------------------------------------------------------------------------------


def _posting_payload(posting: Posting) -> dict[str, Any]:
    return posting.model_dump(mode="json")


def _digest(posting: Posting) -> str:
    return hashlib.sha256(
        orjson.dumps(_posting_payload(posting), option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


def write_postings(conn_or_engine: Connection | Engine, postings: Sequence[Posting]) -> int:
    """Insert balanced postings and chain each into the audit log; returns postings added.

    A posting id already stored with the same content is skipped (a repeated close writes
    nothing); with other content it is a :class:`LedgerConflictError`, never an overwrite.
    """
    added: list[Posting] = []
    with _begin(conn_or_engine) as conn:
        ids = [p.posting_id for p in postings]
        stored = {
            row.posting_id: row.digest
            for row in conn.execute(
                select(ledger_postings.c.posting_id, ledger_postings.c.digest).where(
                    ledger_postings.c.posting_id.in_(ids)
                )
            )
        }
        for posting in postings:
            digest = _digest(posting)
            known = stored.get(posting.posting_id)
            if known is not None:
                if known != digest:
                    raise LedgerConflictError(
                        f"posting {posting.posting_id} is stored with other content: postings "
                        "are immutable, correct them with a reversal"
                    )
                continue
            stored[posting.posting_id] = digest
            added.append(posting)
        if not added:
            return 0
        conn.execute(
            ledger_postings.insert(),
            [
                {
                    "posting_id": p.posting_id,
                    "ts": datetime_to_ns(p.ts),
                    "kind": p.kind,
                    "memo": p.memo,
                    "reverses": p.reverses,
                    "digest": stored[p.posting_id],
                }
                for p in added
            ],
        )
        conn.execute(
            ledger_entries.insert(),
            [
                {
                    "posting_id": p.posting_id,
                    "line": i,
                    "account": e.account,
                    "amount_minor": e.amount_minor,
                    "currency": e.currency,
                }
                for p in added
                for i, e in enumerate(p.entries)
            ],
        )
        append_events(
            conn, [AuditEvent("ledger_posting", p.ts, _posting_payload(p)) for p in added]
        )
    return len(added)


def reversal_of(posting: Posting, ts: datetime, memo: str) -> Posting:
    """The posting that cancels ``posting`` (every entry negated); its id derives from it."""
    return Posting(
        posting_id=f"rev:{posting.posting_id}",
        ts=ts,
        kind="reversal",
        memo=memo,
        entries=tuple(
            LedgerEntry(account=e.account, amount_minor=-e.amount_minor, currency=e.currency)
            for e in posting.entries
        ),
        reverses=posting.posting_id,
    )


def read_postings(
    conn_or_engine: Connection | Engine, *, kind: str | None = None, prefix: str | None = None
) -> list[Posting]:
    """Stored postings (optionally of one kind or id prefix), in time then id order."""
    stmt = select(ledger_postings).order_by(ledger_postings.c.ts, ledger_postings.c.posting_id)
    if kind is not None:
        stmt = stmt.where(ledger_postings.c.kind == kind)
    if prefix is not None:
        stmt = stmt.where(ledger_postings.c.posting_id.startswith(prefix))
    with _begin(conn_or_engine) as conn:
        heads = conn.execute(stmt).all()
        entries: dict[str, list[LedgerEntry]] = defaultdict(list)
        if heads:
            rows = conn.execute(
                select(ledger_entries)
                .where(ledger_entries.c.posting_id.in_([h.posting_id for h in heads]))
                .order_by(ledger_entries.c.posting_id, ledger_entries.c.line)
            )
            for row in rows:
                entries[row.posting_id].append(
                    LedgerEntry(
                        account=row.account,
                        amount_minor=int(row.amount_minor),
                        currency=row.currency,
                    )
                )
    return [
        Posting(
            posting_id=h.posting_id,
            ts=ns_to_datetime(int(h.ts)),
            kind=h.kind,
            memo=h.memo,
            entries=tuple(entries[h.posting_id]),
            reverses=h.reverses,
        )
        for h in heads
    ]


def balances(
    conn_or_engine: Connection | Engine, *, until: datetime | None = None
) -> dict[str, dict[str, int]]:
    """Net balance (debits − credits) per account and currency; zero balances are left out."""
    stmt = (
        select(
            ledger_entries.c.account,
            ledger_entries.c.currency,
            func.sum(ledger_entries.c.amount_minor).label("total"),
        )
        .join(ledger_postings, ledger_postings.c.posting_id == ledger_entries.c.posting_id)
        .group_by(ledger_entries.c.account, ledger_entries.c.currency)
    )
    if until is not None:
        stmt = stmt.where(ledger_postings.c.ts < datetime_to_ns(until))
    out: dict[str, dict[str, int]] = defaultdict(dict)
    with _begin(conn_or_engine) as conn:
        for row in conn.execute(stmt):
            if int(row.total) != 0:
                out[row.account][row.currency] = int(row.total)
    return dict(out)


@dataclass
class LedgerCheck:
    """What :func:`check_ledger` found: ``ok`` only when ``problems`` is empty."""

    postings: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_ledger(conn_or_engine: Connection | Engine) -> LedgerCheck:
    """Every stored posting balances, matches its digest and is in the audit chain."""
    from connectors.store.audit import audit_log

    result = LedgerCheck()
    with _begin(conn_or_engine) as conn:
        heads = conn.execute(select(ledger_postings).order_by(ledger_postings.c.posting_id)).all()
        lines: dict[str, list[Any]] = defaultdict(list)
        for row in conn.execute(
            select(ledger_entries).order_by(ledger_entries.c.posting_id, ledger_entries.c.line)
        ):
            lines[row.posting_id].append(row)
        audited = {
            orjson.loads(row.payload).get("posting_id")
            for row in conn.execute(
                select(audit_log.c.payload).where(audit_log.c.kind == "ledger_posting")
            )
        }
    result.postings = len(heads)
    totals: dict[str, int] = defaultdict(int)
    for head in heads:
        for row in lines[head.posting_id]:
            totals[row.currency] += int(row.amount_minor)
        try:
            posting = Posting(
                posting_id=head.posting_id,
                ts=ns_to_datetime(int(head.ts)),
                kind=head.kind,
                memo=head.memo,
                entries=tuple(
                    LedgerEntry(
                        account=r.account, amount_minor=int(r.amount_minor), currency=r.currency
                    )
                    for r in lines[head.posting_id]
                ),
                reverses=head.reverses,
            )
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
            result.problems.append(f"posting {head.posting_id}: {reason}")
            continue
        if _digest(posting) != head.digest:
            result.problems.append(f"posting {head.posting_id} differs from its digest")
        if head.posting_id not in audited:
            result.problems.append(f"posting {head.posting_id} is not in the audit chain")
    for currency, total in sorted(totals.items()):
        if total != 0:
            result.problems.append(f"the ledger does not balance: {currency} sums to {total}")
    return result
