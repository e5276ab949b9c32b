"""The monthly close over a store (idempotent, refuses a changed month) and the check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.store.billing import (
    balances,
    read_postings,
    upsert_customer,
)
from connectors.stripe.client import StripeBilling
from connectors.stripe.webhooks import handle_webhook
from flows.billing import BillingError, check, close
from flows.cli import main
from operators.billing.catalogue import load_catalogue
from schemas.signals import Decision
from tests.billing.conftest import day, event, fused, meter_into, sign

ROOT = Path(__file__).resolve().parents[2]
CAT = load_catalogue()


def test_close_is_idempotent_and_refuses_a_changed_month(billing_store) -> None:
    _, engine = billing_store
    meter_into(engine, [fused(f"f{i}", day(3 + i), Decision.OPEN) for i in range(4)])
    first = close(engine, "2022-01")
    totals = {i.customer_id: i.total_minor for i in first.result.invoices}
    assert totals == {"ana": 9900, "bea": 2900, "cy": 200}
    assert not first.already_closed
    postings = read_postings(engine)
    again = close(engine, "2022-01")
    assert again.already_closed and read_postings(engine) == postings
    meter_into(engine, [fused("late", day(20), Decision.OPEN)])
    with pytest.raises(BillingError, match="already closed with other figures"):
        close(engine, "2022-01")
    report = check(engine, None)
    assert report.ok, report.problems
    assert balances(engine)["receivable:ana"] == {"usd": 9900}


def test_check_agrees_with_stripe_only_when_payments_are_booked(billing_store, stripe_server):
    _, config = stripe_server
    _, engine = billing_store
    billing = StripeBilling(config)
    for customer in ("ana", "bea", "cy"):
        stripe_id = billing.create_customer(customer, customer.title(), f"{customer}@x")
        upsert_customer(
            engine,
            customer,
            customer.title(),
            f"{customer}@x",
            created_at=day(1),
            stripe_customer_id=stripe_id,
        )
    meter_into(engine, [fused("f1", day(3), Decision.OPEN)])
    billing.ensure_meter(CAT)
    report = close(engine, "2022-01", stripe=billing)
    assert len(report.pushed_to_stripe) == 3 and report.usage_reported == 1
    assert close(engine, "2022-01", stripe=billing).pushed_to_stripe == report.pushed_to_stripe
    assert check(engine, billing).ok

    paid = billing.client.v1.invoices.pay(report.pushed_to_stripe[0], {}, {"idempotency_key": "p"})
    result = check(engine, billing)
    assert not result.ok and "is paid (9900) but the ledger booked 0" in result.problems[0]
    payload = event("evt_paid", "invoice.paid", paid.to_dict(), 1_700_000_000)
    handle_webhook(engine, payload, sign(payload), config)
    assert check(engine, billing).ok


def test_cli_close_and_check(billing_store, capsys) -> None:
    url, engine = billing_store
    meter_into(engine, [fused("f1", day(3), Decision.OPEN)])

    def quorum(*args: str) -> tuple[int, str, str]:
        code = main(["billing", *args, "--store", url])
        out = capsys.readouterr()
        return code, out.out, out.err

    assert quorum("close", "--month", "2022-1")[0] == 2
    code, out, _ = quorum("close", "--month", "2022-01")
    assert code == 0 and "2022-01 closed" in out
    assert "already closed" in quorum("close", "--month", "2022-01")[1]
    code, out, _ = quorum("check", "--ledger-only")
    assert code == 0 and "OK" in out
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE ledger_entries SET amount_minor = 1 WHERE line = 0")
    # the console command itself, once: exit 1 naming the problem
    broken = subprocess.run(
        [sys.executable, "-m", "flows.cli", "billing", "check", "--ledger-only", "--store", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert broken.returncode == 1 and "does not balance" in broken.stderr


@pytest.mark.slow
def test_demo_month_on_the_shipped_data(tmp_path) -> None:
    out = tmp_path / "demo.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "billing",
            "demo",
            "--store",
            str(tmp_path / "demo.sqlite"),
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    totals = {i["customer_id"]: i["total_minor"] for i in figures["invoices"]}
    assert totals["bea"] == 2900 * 19 // 31  # churned on the 20th
    assert totals["cy"] > 0 and totals["cy"] % 50 == 0  # per-signal
    assert figures["kpis"]["trials_converted"] == 1 and figures["kpis"]["churned"] == 1
    assert {s["author"] for s in figures["statements"]} == {"ana", "bo"}


def test_cli_sync_then_close_to_stripe_and_check(billing_store, stripe_env, capsys) -> None:
    fake, _ = stripe_env
    url, engine = billing_store
    meter_into(engine, [fused("f1", day(3), Decision.OPEN)])
    for _ in range(2):  # a second sync creates nothing new
        assert main(["billing", "sync", "--store", url]) == 0
    assert len(fake.of_type("customer")) == 3 and len(fake.of_type("product")) == 4
    assert main(["billing", "close", "--month", "2022-01", "--stripe", "--store", url]) == 0
    assert main(["billing", "check", "--store", url]) == 0
    assert "ledger and Stripe" in capsys.readouterr().out
    fake.objects[next(iter(i["id"] for i in fake.of_type("invoice")))]["total"] += 1
    assert main(["billing", "check", "--store", url]) == 1
    assert "Stripe total" in capsys.readouterr().err


def test_check_compares_stripes_meter_and_invoices_with_the_store(
    billing_store, stripe_env, capsys
) -> None:
    fake, config = stripe_env
    url, engine = billing_store
    meter_into(engine, [fused(f"f{i}", day(3 + i), Decision.OPEN) for i in range(3)])
    assert main(["billing", "sync", "--store", url]) == 0
    assert main(["billing", "close", "--month", "2022-01", "--stripe", "--store", url]) == 0
    assert len(fake.meter_events) == 3  # cy's three priced deliveries, one event each
    assert main(["billing", "check", "--store", url]) == 0
    capsys.readouterr()

    # Stripe's meter lost an event: usage disagrees
    fake.meter_events.pop(next(iter(fake.meter_events)))
    assert main(["billing", "check", "--store", url]) == 1
    err = capsys.readouterr().err
    assert "usage of cy in 2022-01: 3 priced signals here, 2 on Stripe's meter" in err
    # Stripe also holds a Quorum invoice this store never made
    billing = StripeBilling(config)
    stray = billing.client.v1.invoices.create(
        {"customer": fake.of_type("customer")[0]["id"], "metadata": {"quorum_invoice_id": "x-1"}},
        {"idempotency_key": "stray"},
    )
    report = check(engine, billing)
    assert f"Stripe invoice {stray.id} carries Quorum invoice x-1, unknown here" in report.problems
    assert len(report.problems) == 2


def test_close_books_stripes_own_subscription_cycle_where_stripe_bills_the_plan(
    billing_store, stripe_env, capsys
) -> None:
    from connectors.store.billing import billing_subscriptions, read_usage
    from connectors.stripe.config import StripeConfig

    fake, _ = stripe_env
    url, engine = billing_store
    meter_into(engine, [fused(f"f{i}", day(3 + i), Decision.OPEN) for i in range(3)])
    assert main(["billing", "sync", "--subscriptions", "--store", url]) == 0
    with engine.connect() as conn:
        stripe_subs = dict(
            conn.execute(
                billing_subscriptions.select().with_only_columns(
                    billing_subscriptions.c.customer_id,
                    billing_subscriptions.c.stripe_subscription_id,
                )
            ).all()
        )
    assert all(stripe_subs.values()) and len(stripe_subs) == 3
    # without Stripe the close cannot know what Stripe's cycle billed: refused
    assert main(["billing", "close", "--month", "2022-01", "--store", url]) != 0
    assert "billed by Stripe's subscription cycle" in capsys.readouterr().err
    # the flow's usage reaches the meter, then Stripe's cycle closes January
    billing = StripeBilling(StripeConfig.from_env())
    customers = {r.customer_id: r.stripe_customer_id for r in _customers(engine)}
    assert billing.report_usage(read_usage(engine), customers) == 3
    jan = (int(day(1).timestamp()), int(day(32).timestamp()))
    cycle = {c: fake.bill_cycle(s, *jan) for c, s in stripe_subs.items()}

    report = close(engine, "2022-01", stripe=billing)
    invoices = {i.customer_id: i for i in report.result.invoices}
    assert {c: i.total_minor for c, i in invoices.items()} == {"ana": 9900, "bea": 2900, "cy": 150}
    assert all(line.kind.startswith("stripe_") for i in invoices.values() for line in i.lines)
    assert f"(Stripe {cycle['cy']['id']})" in invoices["cy"].lines[-1].description
    assert report.pushed_to_stripe == []  # nothing of Quorum's own to send: no double billing
    assert balances(engine)["receivable:cy"] == {"usd": 150}
    assert check(engine, billing).ok, check(engine, billing).problems

    # Stripe's cycle invoice changed after the close: the check says so
    fake.objects[cycle["cy"]["id"]]["lines"]["data"][0]["amount"] = 100
    problems = check(engine, billing).problems
    assert any("Stripe's subscription cycle billed" in p and "booked 150" in p for p in problems)


def _customers(engine):
    from connectors.store.billing import billing_customers

    with engine.connect() as conn:
        return conn.execute(billing_customers.select()).all()
