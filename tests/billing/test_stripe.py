"""Stripe through the real SDK against a local Stripe-compatible server; signed webhooks."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from connectors.store.billing import (
    balances,
    read_subscriptions,
    upsert_customer,
    upsert_subscription,
)
from connectors.store.engine import open_store
from connectors.stripe.client import StripeBilling
from connectors.stripe.config import StripeConfig, StripeConfigError
from connectors.stripe.webhooks import WebhookRejectedError, handle_webhook
from operators.billing.catalogue import load_catalogue
from schemas.billing import Charge, Invoice, SubscriptionStatus, UsageEvent
from tests.billing.conftest import SECRET, day, event, sign, subscription
from tests.billing.stripe_server import API_KEY

CAT = load_catalogue()


def test_catalogue_customers_usage_invoices_and_portal(stripe_server) -> None:
    fake, config = stripe_server
    billing = StripeBilling(config)
    meter = billing.ensure_meter(CAT)
    prices = {p.plan_id: billing.ensure_plan(CAT, p, meter) for p in CAT.plans}
    assert prices["per_signal"].period_price is None and prices["per_signal"].signal_price
    assert prices["basic"].signal_price is None
    again = billing.ensure_plan(CAT, CAT.plan("pro"), meter)  # a second sync: same objects
    assert again == prices["pro"]
    assert len(fake.of_type("product")) == len(CAT.plans)

    cus = billing.create_customer("cy", "Cy", "cy@example.com")
    assert billing.create_customer("cy", "Cy", "cy@example.com") == cus
    sub = billing.create_subscription("sub-cy", cus, prices["per_signal"], trial_days=0)
    assert sub.status == "active"
    usage = [
        UsageEvent(
            usage_id=f"use-{i}",
            customer_id="cy",
            signal_id=f"f{i}",
            asset="BTC-PERP",
            decision="open",
            plan_id="per_signal",
            price_minor=50,
            delivered_at=day(3),
        )
        for i in range(3)
    ]
    assert billing.report_usage(usage, {"cy": cus}) == 3
    assert billing.report_usage(usage, {"cy": cus}) == 3  # replayed: Stripe holds them once
    assert sorted(fake.meter_events) == ["use-0", "use-1", "use-2"]

    invoice = Invoice(
        invoice_id="2022-01-cy",
        customer_id="cy",
        month="2022-01",
        lines=(
            Charge(
                kind="usage", description="3 signals", quantity=3, unit_minor=50, amount_minor=150
            ),
        ),
    )
    first = billing.create_invoice(invoice, cus)
    second = billing.create_invoice(invoice, cus)
    assert first.id == second.id and first.status == "open" and first.total == 150
    assert [i.id for i in billing.invoices()] == [first.id]
    assert billing.portal_link(cus, "s1").startswith("https://billing.stripe.test/")

    posts = [(path, key) for method, path, key in fake.requests if method == "POST"]
    assert posts and all(key for _, key in posts), "every POST carries an idempotency key"


def test_missing_settings_name_the_variable() -> None:
    with pytest.raises(StripeConfigError, match="QUORUM_STRIPE_API_KEY"):
        StripeConfig.from_env({"QUORUM_STRIPE_WEBHOOK_SECRET": "x"})


def _sub_obj(status: str, sub_id: str = "sub-ana") -> dict:
    return {
        "id": "sub_1",
        "object": "subscription",
        "customer": "cus_ana",
        "status": status,
        "metadata": {"quorum_subscription_id": sub_id},
    }


@pytest.fixture
def store(tmp_path):
    engine = open_store(tmp_path / "w.sqlite")
    upsert_customer(engine, "ana", "Ana", "ana@x", created_at=day(1), stripe_customer_id="cus_ana")
    upsert_subscription(
        engine, subscription("ana", "pro", status=SubscriptionStatus.TRIALING, trial_days=14)
    )
    yield engine
    engine.dispose()


def _status(engine) -> str:
    return read_subscriptions(engine, "ana")[0].status.value


def test_webhooks_verified_idempotent_and_in_order(store) -> None:
    config = StripeConfig(api_key=API_KEY, webhook_secret=SECRET)
    t0 = int(datetime(2022, 1, 10, tzinfo=UTC).timestamp())
    active = event("evt_1", "customer.subscription.updated", _sub_obj("active"), t0)
    past_due = event("evt_2", "customer.subscription.updated", _sub_obj("past_due"), t0 + 60)

    assert handle_webhook(store, active, sign(active), config).outcome == "applied"
    assert _status(store) == "active"
    assert handle_webhook(store, active, sign(active), config).outcome == "duplicate"
    assert handle_webhook(store, past_due, sign(past_due), config).outcome == "applied"
    assert _status(store) == "past_due"
    # an older event arriving late changes nothing
    late = event("evt_0", "customer.subscription.updated", _sub_obj("active"), t0 - 60)
    assert handle_webhook(store, late, sign(late), config).outcome == "stale"
    assert _status(store) == "past_due"
    deleted = event("evt_3", "customer.subscription.deleted", _sub_obj("canceled"), t0 + 120)
    assert handle_webhook(store, deleted, sign(deleted), config).outcome == "applied"
    revived = event("evt_4", "customer.subscription.updated", _sub_obj("active"), t0 + 180)
    assert handle_webhook(store, revived, sign(revived), config).outcome == "ignored"
    sub = read_subscriptions(store, "ana")[0]
    assert sub.status is SubscriptionStatus.CANCELED and sub.ended_at is not None

    paid = event(
        "evt_5",
        "invoice.paid",
        {
            "id": "in_1",
            "object": "invoice",
            "customer": "cus_ana",
            "amount_paid": 9900,
            "currency": "usd",
        },
        t0 + 200,
    )
    for _ in range(2):
        handle_webhook(store, paid, sign(paid), config)
    assert balances(store) == {"cash:stripe": {"usd": 9900}, "receivable:ana": {"usd": -9900}}


def test_bad_signatures_are_rejected(store) -> None:
    config = StripeConfig(api_key=API_KEY, webhook_secret=SECRET)
    payload = event("evt_9", "customer.subscription.updated", _sub_obj("active"), 1)
    with pytest.raises(WebhookRejectedError, match="signature"):
        handle_webhook(store, payload, sign(payload, secret="whsec_other"), config)
    with pytest.raises(WebhookRejectedError, match="signature"):
        handle_webhook(store, payload, sign(payload, at=int(time.time()) - 301), config)
    with pytest.raises(WebhookRejectedError):
        handle_webhook(store, payload + b" ", sign(payload), config)
    assert _status(store) == "trialing"


def _invoice_obj(invoice_id: str, paid: int = 0) -> dict:
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": "cus_ana",
        "subscription": None,
        "amount_paid": paid,
        "currency": "usd",
    }


def test_invoice_payment_failed_and_paid_drive_past_due_and_keep_its_history(store) -> None:
    from operators.billing.entitlements import plan_in_force, status_at

    config = StripeConfig(api_key=API_KEY, webhook_secret=SECRET)
    upsert_subscription(store, subscription("ana", "pro"))  # active since Jan 1
    t = {d: int(day(d).timestamp()) for d in (5, 15, 16)}
    failed = event("evt_f", "invoice.payment_failed", _invoice_obj("in_1"), t[5])
    assert handle_webhook(store, failed, sign(failed), config).outcome == "applied"
    sub = read_subscriptions(store, "ana")[0]
    assert sub.status is SubscriptionStatus.PAST_DUE and sub.past_due_since == day(5)
    # past the 7-day grace: the reduced plan (basic) applies
    assert plan_in_force(CAT, sub, day(13)).plan_id == "basic"
    paid = event("evt_p", "invoice.paid", _invoice_obj("in_1", 9900), t[15])
    assert handle_webhook(store, paid, sign(paid), config).outcome == "applied"
    sub = read_subscriptions(store, "ana")[0]
    assert sub.status is SubscriptionStatus.ACTIVE and sub.past_due_since is None
    # reactivation keeps the past-due period: entitlements of those days stay what they were
    assert sub.past_due_periods == ((day(5), day(15)),)
    assert status_at(sub, day(10)) is SubscriptionStatus.PAST_DUE
    assert plan_in_force(CAT, sub, day(13)).plan_id == "basic"
    assert plan_in_force(CAT, sub, day(15)).plan_id == "pro"
    # an older failure arriving after the payment changes nothing
    late = event("evt_f0", "invoice.payment_failed", _invoice_obj("in_0"), t[5] - 60)
    assert handle_webhook(store, late, sign(late), config).outcome == "stale"
    # a paid invoice while active settles money only: no transition
    again = event("evt_p2", "invoice.paid", _invoice_obj("in_2", 100), t[16])
    handle_webhook(store, again, sign(again), config)
    assert read_subscriptions(store, "ana")[0].status is SubscriptionStatus.ACTIVE
