"""Stripe webhooks: verified by the SDK, applied once per event id, out of order safely.

``handle_webhook(engine, payload, signature, config)`` verifies the ``Stripe-Signature``
header with ``stripe.Webhook.construct_event`` (``webhook_tolerance_seconds``, 300 by default),
then, in one transaction, records the event id in ``stripe_events`` and applies it:

* ``customer.subscription.created|updated|deleted`` → the subscription state machine
  (:func:`operators.billing.subscriptions.transition`), unless an event created later has
  already been applied to that subscription (out of order: recorded, ignored);
* ``invoice.paid`` → a payment posting (Dr cash, Cr the customer's receivable), and a past-due
  subscription of the invoice back to active (the past-due period is kept in its history);
* ``invoice.payment_failed`` → the invoice's subscription past due (the grace period of the
  catalogue starts then; after it the reduced plan applies);
* ``charge.refunded`` → a refund posting.

The subscription of an invoice is the one whose ``stripe_subscription_id`` is the invoice's
``subscription``, else the Quorum customer's newest subscription that has not ended (Quorum's
own invoices, sent by ``close --stripe``, belong to no Stripe subscription).

An event id seen before changes nothing. Other event types are recorded and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from connectors.store.billing import (
    billing_customers,
    billing_subscriptions,
    read_subscriptions,
    stripe_events,
    subscription_event_marks,
    upsert_subscription,
    write_postings,
)
from connectors.stripe.config import StripeConfig
from operators.billing.ledger import payment_posting, refund_posting
from operators.billing.subscriptions import transition
from schemas.billing import Subscription, SubscriptionStatus
from schemas.common import ns_to_datetime

_MONEY_EVENTS = {
    "invoice.paid": ("amount_paid", payment_posting),
    "charge.refunded": ("amount_refunded", refund_posting),
}
"""Events that move money: the amount field and the posting they become."""


class WebhookRejectedError(ValueError):
    """The payload or its signature is not Stripe's: answer 400, change nothing."""


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    type: str
    outcome: str
    """applied | duplicate | stale | ignored"""


def verify(payload: bytes, signature: str | None, config: StripeConfig) -> Any:
    """The event, when ``signature`` is Stripe's for ``payload`` within the tolerance."""
    try:
        return stripe.Webhook.construct_event(
            payload,
            signature,
            config.webhook_secret.get_secret_value(),
            tolerance=config.webhook_tolerance_seconds,
        )
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejectedError(f"webhook signature rejected: {exc.user_message}") from None
    except ValueError as exc:
        raise WebhookRejectedError(f"webhook payload is not a Stripe event: {exc}") from None


def handle_webhook(
    engine: Engine, payload: bytes, signature: str | None, config: StripeConfig
) -> WebhookResult:
    event = verify(payload, signature, config)
    with engine.begin() as conn:
        seen = conn.execute(
            select(stripe_events.c.event_id).where(stripe_events.c.event_id == event.id)
        ).first()
        if seen is not None:
            return WebhookResult(event.id, event.type, "duplicate")
        outcome = _apply(conn, event)
        conn.execute(
            stripe_events.insert().values(
                event_id=event.id, type=event.type, created=int(event.created), outcome=outcome
            )
        )
    return WebhookResult(event.id, event.type, outcome)


def _at(seconds: int) -> Any:
    return ns_to_datetime(int(seconds) * 1_000_000_000)


def _apply(conn: Connection, event: Any) -> str:
    obj: dict[str, Any] = event.data.object.to_dict()
    if event.type.startswith("customer.subscription."):
        return _apply_subscription(conn, event, obj)
    outcome = "ignored"
    booking = _MONEY_EVENTS.get(event.type)
    if booking is not None:
        amount_field, build = booking
        customer = _quorum_customer(conn, obj)
        if customer is not None and obj.get(amount_field):
            posting = build(
                obj["id"], customer, int(obj[amount_field]), _at(event.created), obj["currency"]
            )
            write_postings(conn, [posting])
            outcome = "applied"
    if event.type in ("invoice.paid", "invoice.payment_failed"):
        driven = _apply_invoice_outcome(conn, event, obj)
        outcome = driven if outcome == "ignored" else outcome
    return outcome


def _invoice_subscription(conn: Connection, obj: dict[str, Any]) -> Subscription | None:
    """The Quorum subscription an invoice bills (see the module's docstring)."""
    stripe_sub = obj.get("subscription")
    if stripe_sub:
        sub_id = conn.execute(
            select(billing_subscriptions.c.subscription_id).where(
                billing_subscriptions.c.stripe_subscription_id == stripe_sub
            )
        ).scalar_one_or_none()
        if sub_id is not None:
            return next(s for s in read_subscriptions(conn) if s.subscription_id == sub_id)
    customer = _quorum_customer(conn, obj)
    if customer is None:
        return None
    final = (SubscriptionStatus.CANCELED, SubscriptionStatus.EXPIRED)
    open_subs = [s for s in read_subscriptions(conn, customer) if s.status not in final]
    return open_subs[-1] if open_subs else None


def _apply_invoice_outcome(conn: Connection, event: Any, obj: dict[str, Any]) -> str:
    sub = _invoice_subscription(conn, obj)
    if sub is None:
        return "ignored"
    if event.type == "invoice.paid":
        if sub.status is not SubscriptionStatus.PAST_DUE:
            return "ignored"  # a paid invoice converts nothing by itself; it settles arrears
        return _drive(conn, event, sub.subscription_id, "active", obj)
    return _drive(conn, event, sub.subscription_id, "past_due", obj)


def _quorum_customer(conn: Connection, obj: dict[str, Any]) -> str | None:
    """The Quorum customer of a Stripe object, by its ``customer`` id."""
    return conn.execute(
        select(billing_customers.c.customer_id).where(
            billing_customers.c.stripe_customer_id == obj.get("customer")
        )
    ).scalar_one_or_none()


def _apply_subscription(conn: Connection, event: Any, obj: dict[str, Any]) -> str:
    sub_id = (obj.get("metadata") or {}).get("quorum_subscription_id")
    if sub_id is None:
        return "ignored"
    status = "canceled" if event.type == "customer.subscription.deleted" else obj.get("status", "")
    return _drive(conn, event, sub_id, status, obj)


def _drive(conn: Connection, event: Any, sub_id: str, status: str, obj: dict[str, Any]) -> str:
    """Apply ``status`` to subscription ``sub_id`` unless a newer event already moved it."""
    mark = conn.execute(
        select(subscription_event_marks.c.last_event_created).where(
            subscription_event_marks.c.subscription_id == sub_id
        )
    ).scalar_one_or_none()
    if mark is not None and int(event.created) < mark:
        return "stale"
    current = next((s for s in read_subscriptions(conn) if s.subscription_id == sub_id), None)
    if current is None:
        return "ignored"
    changed = transition(current, status, _at(event.created))
    if mark is None:
        conn.execute(
            subscription_event_marks.insert().values(
                subscription_id=sub_id, last_event_created=int(event.created)
            )
        )
    else:
        conn.execute(
            update(subscription_event_marks)
            .where(subscription_event_marks.c.subscription_id == sub_id)
            .values(last_event_created=int(event.created))
        )
    if changed is None:
        return "ignored"
    stripe_id = conn.execute(
        select(billing_subscriptions.c.stripe_subscription_id).where(
            billing_subscriptions.c.subscription_id == sub_id
        )
    ).scalar_one_or_none()
    if stripe_id is None and obj.get("object") == "subscription":
        stripe_id = obj["id"]
    upsert_subscription(conn, changed, stripe_subscription_id=stripe_id)
    return "applied"
