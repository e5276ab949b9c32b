"""``quorum billing``: plans, customers, the monthly close, author statements, the check.

* ``quorum billing plans [--catalogue FILE]`` validates the catalogue, stores its version and
  prints the plans;
* ``quorum billing customers`` lists customers with their subscriptions;
* ``quorum billing close --month YYYY-MM [--stripe]`` closes a month (idempotent);
* ``quorum billing statement --month YYYY-MM [--author NAME]`` prints author statements;
* ``quorum billing sync [--subscriptions]`` mirrors the catalogue (meter, products, prices) and
  the customers in Stripe, idempotently (with ``--subscriptions`` also a Stripe subscription
  per open subscription: Stripe's own cycle then bills those plans and the close books it);
* ``quorum billing check [--ledger-only]`` exits 0 only when the ledger balances and agrees
  with Stripe (``QUORUM_STRIPE_*`` settings), 1 naming each disagreement;
* ``quorum billing webhook CUSTOMER URL --secret env:NAME`` registers a customer's webhook;
* ``quorum billing deliver --channel kafka|webhook [--kafka BOOTSTRAP] [--follow SECONDS]``
  pushes the due, entitled signals to each customer's topic or webhook (once, or every
  SECONDS until interrupted), metering each delivery once;
* ``quorum billing demo [--store demo.sqlite]`` runs the shipped month with three customers
  and two authors, closes it and prints invoices, statements and KPIs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

HELP = "billing: plans, customers, monthly close, author statements, ledger and Stripe check"

DEFAULT_STORE = "quorum.sqlite"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="billing_command", metavar="ACTION", required=True)
    plans = sub.add_parser("plans", help="validate and store the catalogue, print the plans")
    plans.add_argument(
        "--catalogue", type=Path, help="catalogue YAML (default: flows/billing.yaml)"
    )
    sub.add_parser("customers", help="customers and their subscriptions")
    close = sub.add_parser("close", help="close a month: invoices, statements, fees (idempotent)")
    close.add_argument("--month", required=True, help="YYYY-MM")
    close.add_argument("--stripe", action="store_true", help="send the invoices to Stripe")
    statement = sub.add_parser("statement", help="author statements of a closed month")
    statement.add_argument("--month", required=True, help="YYYY-MM")
    statement.add_argument("--author", help="one author (default: all)")
    statement.add_argument("--lines", type=int, default=10, help="signal lines shown per author")
    check = sub.add_parser("check", help="exit 0 only when the ledger balances and Stripe agrees")
    check.add_argument(
        "--ledger-only", action="store_true", help="do not ask Stripe (no QUORUM_STRIPE_* set)"
    )
    sync = sub.add_parser("sync", help="mirror the catalogue and customers in Stripe (idempotent)")
    sync.add_argument(
        "--subscriptions",
        action="store_true",
        help="also create Stripe subscriptions: Stripe's own cycle then bills those plans",
    )
    webhook = sub.add_parser("webhook", help="register a customer's webhook URL and secret")
    webhook.add_argument("customer")
    webhook.add_argument("url", help="https://… receiving signed POSTs")
    webhook.add_argument(
        "--secret", required=True, help="signing secret reference: env:NAME or file:PATH"
    )
    deliver = sub.add_parser("deliver", help="push due entitled signals (kafka, webhook)")
    deliver.add_argument("--channel", required=True, choices=["kafka", "webhook"])
    deliver.add_argument(
        "--kafka", metavar="BOOTSTRAP", help="Kafka brokers (default: kafka in --config)"
    )
    deliver.add_argument("--config", type=Path, help="Quorum config YAML (kafka settings)")
    deliver.add_argument(
        "--follow", type=float, metavar="SECONDS", help="deliver again every SECONDS until ^C"
    )
    demo = sub.add_parser("demo", help="a month of three customers and two authors, closed")
    demo.add_argument("--json", type=Path, help="also write the demo's figures as JSON")
    for action in (
        plans,
        sub.choices["customers"],
        close,
        statement,
        check,
        sync,
        webhook,
        deliver,
        demo,
    ):
        action.add_argument(
            "--store",
            default="demo.sqlite" if action is demo else DEFAULT_STORE,
            help="store file or SQLAlchemy URL",
        )


def _money(minor: int, currency: str = "usd") -> str:
    return f"{minor / 100:,.2f} {currency.upper()}"


def _open(store: str, *, must_exist: bool = True) -> Engine:
    from connectors.store.engine import open_store, url_for
    from flows.cli import UserError

    url = url_for(store)
    local = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None
    if must_exist and local is not None and not Path(local).exists():
        raise UserError(f"no store at {store}")
    return open_store(url)


def _stripe() -> Any:
    from connectors.stripe.client import StripeBilling
    from connectors.stripe.config import StripeConfig, StripeConfigError
    from flows.cli import UserError

    try:
        return StripeBilling(StripeConfig.from_env())
    except StripeConfigError as exc:
        raise UserError(f"{exc} (or pass --ledger-only)") from None


def _plans(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from connectors.store.billing import CatalogueConflictError, store_catalogue
    from flows.cli import UserError
    from operators.billing.catalogue import CatalogueError, load_catalogue

    try:
        catalogue = load_catalogue(args.catalogue)
    except CatalogueError as exc:
        raise UserError(str(exc)) from None
    engine = _open(args.store, must_exist=False)
    try:
        stored = store_catalogue(engine, catalogue)
    except CatalogueConflictError as exc:
        raise UserError(str(exc)) from None
    finally:
        engine.dispose()
    table = Table(title=f"Catalogue v{catalogue.version} ({'stored' if stored else 'unchanged'})")
    for column in (
        "plan",
        "per month",
        "per signal",
        "trial",
        "assets",
        "timeframes",
        "decisions",
        "delay",
        "channels",
        "rate/min",
        "seats",
    ):
        table.add_column(column)
    for plan in catalogue.plans:
        e = plan.entitlements
        table.add_row(
            plan.name,
            _money(plan.price_minor, catalogue.currency),
            _money(plan.price_per_signal_minor, catalogue.currency),
            f"{plan.trial_days} d",
            ",".join(e.assets),
            ",".join(t.value for t in e.timeframes),
            ",".join(d.value for d in e.decisions),
            f"{e.delay_seconds // 60} min",
            ",".join(c.value for c in e.channels),
            str(e.rate_limit_per_minute),
            str(e.seats),
        )
    Console().print(table)
    return 0


def _customers(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from connectors.store.billing import read_customers, read_subscriptions

    engine = _open(args.store)
    try:
        customers = read_customers(engine)
        subs = read_subscriptions(engine)
    finally:
        engine.dispose()
    table = Table(title="Customers")
    for column in ("customer", "email", "plan", "status", "since", "trial ends", "ended"):
        table.add_column(column)
    for customer in customers:
        for sub in (s for s in subs if s.customer_id == customer["customer_id"]):
            table.add_row(
                customer["customer_id"],
                customer["email"],
                sub.plan_id,
                sub.status.value,
                sub.started_at.date().isoformat(),
                sub.trial_ends_at.date().isoformat() if sub.trial_ends_at else "",
                sub.ended_at.date().isoformat() if sub.ended_at else "",
            )
    Console().print(table)
    return 0


def _print_close(result: Any, already: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    state = "already closed: nothing changed" if already else "closed"
    console.print(f"[bold]{result.month}[/] {state}")
    invoices = Table(title=f"Invoices {result.month}")
    for column in ("invoice", "customer", "line", "amount"):
        invoices.add_column(column)
    for invoice in result.invoices:
        for line in invoice.lines:
            invoices.add_row(
                invoice.invoice_id,
                invoice.customer_id,
                line.description,
                _money(line.amount_minor, invoice.currency),
            )
        invoices.add_row("", "", "[bold]total", _money(invoice.total_minor, invoice.currency))
    console.print(invoices)
    statements = Table(title=f"Author statements {result.month}")
    for column in ("author", "signals", "attributed", "payable"):
        statements.add_column(column)
    for s in result.statements:
        statements.add_row(
            s.author,
            str(len({line.signal_id for line in s.lines})),
            _money(s.attributed_minor, s.currency),
            _money(s.payable_minor, s.currency),
        )
    console.print(statements)
    if result.kpis is not None:
        k = result.kpis
        console.print(
            f"MRR {_money(k.mrr_minor)} · ARPU {_money(k.arpu_minor)} · trial conversion "
            f"{k.trials_converted}/{k.trials_ended} · churn {k.churned}/{k.paying_in_month}"
        )


def _close(args: argparse.Namespace) -> int:
    from flows.billing import BillingError, close
    from flows.cli import UserError

    engine = _open(args.store)
    try:
        report = close(engine, args.month, stripe=_stripe() if args.stripe else None)
    except BillingError as exc:
        raise UserError(str(exc)) from None
    finally:
        engine.dispose()
    _print_close(report.result, report.already_closed)
    if report.pushed_to_stripe:
        print(f"sent to Stripe: {', '.join(report.pushed_to_stripe)}")
    return 0


def _statement(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import select

    from connectors.store.billing import billing_statements
    from schemas.billing import AuthorStatement

    engine = _open(args.store)
    stmt = select(billing_statements).where(billing_statements.c.month == args.month)
    if args.author:
        stmt = stmt.where(billing_statements.c.author == args.author)
    try:
        with engine.connect() as conn:
            rows = conn.execute(stmt.order_by(billing_statements.c.author)).all()
    finally:
        engine.dispose()
    if not rows:
        print(
            f"no statement for {args.month}{' / ' + args.author if args.author else ''}: "
            "close the month first"
        )
        return 1
    console = Console()
    for row in rows:
        s = AuthorStatement.model_validate(row.statement)
        table = Table(
            title=f"{s.author} · {s.month} · attributed "
            f"{_money(s.attributed_minor, s.currency)} · payable "
            f"{_money(s.payable_minor, s.currency)}"
        )
        for column in ("signal", "asset", "source", "share", "deliveries", "revenue", "outcome 4h"):
            table.add_column(column)
        top = sorted(s.lines, key=lambda line: -line.revenue_minor)[: args.lines]
        for line in top:
            outcome = "" if line.outcome_bps is None else f"{line.outcome_bps:+.1f} bps"
            table.add_row(
                line.signal_id,
                line.asset,
                line.source,
                f"{line.share:.2f}",
                str(line.deliveries),
                _money(line.revenue_minor, s.currency),
                outcome,
            )
        console.print(table)
        console.print(f"{len(s.lines)} lines ({len(top)} shown)")
    return 0


def _check(args: argparse.Namespace) -> int:
    import sys

    from flows.billing import check

    stripe = None if args.ledger_only else _stripe()
    engine = _open(args.store)
    try:
        report = check(engine, stripe)
    finally:
        engine.dispose()
    scope = "ledger and Stripe" if report.stripe_checked else "ledger only"
    if report.ok:
        print(
            f"billing check ({scope}): OK — {report.postings} postings balance, "
            f"{report.invoices} invoices booked"
        )
        return 0
    print(f"billing check ({scope}): {len(report.problems)} problems", file=sys.stderr)
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _sync(args: argparse.Namespace) -> int:
    from flows.billing import BillingError, sync_stripe
    from flows.cli import UserError

    stripe = _stripe()
    engine = _open(args.store)
    try:
        report = sync_stripe(engine, stripe, subscriptions=args.subscriptions)
    except BillingError as exc:
        raise UserError(str(exc)) from None
    finally:
        engine.dispose()
    print(
        f"Stripe meter {report.meter}; {len(report.products)} products; customers: "
        + ", ".join(f"{c}={s}" for c, s in report.customers.items())
    )
    if report.subscriptions:
        print(
            "Stripe subscriptions: "
            + ", ".join(f"{q}={s}" for q, s in report.subscriptions.items())
        )
    return 0


def _webhook(args: argparse.Namespace) -> int:
    from connectors.store.billing import read_customers, set_webhook_endpoint
    from flows.cli import UserError

    engine = _open(args.store)
    try:
        if args.customer not in {c["customer_id"] for c in read_customers(engine)}:
            raise UserError(f"{args.customer!r} is not a billing customer of {args.store}")
        set_webhook_endpoint(engine, args.customer, args.url, args.secret)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    finally:
        engine.dispose()
    print(f"webhook of {args.customer}: {args.url} (signed with {args.secret})")
    return 0


def _push_channel(args: argparse.Namespace, engine: Engine) -> Any:
    from flows.cli import UserError

    if args.channel == "webhook":
        from connectors.billing_push.webhook import WebhookPush
        from connectors.store.billing import webhook_endpoints

        return WebhookPush(webhook_endpoints(engine))
    from connectors.billing_push.kafka import KafkaPush
    from flows.config import ConfigError, load_config
    from flows.kafka_options import kafka_overrides

    try:
        config = load_config(args.config, kafka_overrides(args)).kafka
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    if not config.enabled:
        raise UserError("no Kafka brokers: pass --kafka HOST:PORT or set kafka in --config")
    return KafkaPush(config)


def _deliver(args: argparse.Namespace) -> int:
    import time
    from datetime import UTC, datetime

    from flows.billing import BillingError
    from flows.billing_delivery import deliver
    from flows.cli import UserError
    from schemas.billing import Channel

    engine = _open(args.store)
    sender = _push_channel(args, engine)
    failed = False
    try:
        while True:
            try:
                report = deliver(engine, Channel(args.channel), sender, datetime.now(UTC))
            except BillingError as exc:
                raise UserError(str(exc)) from None
            for c in report.customers:
                state = c.error or ("holding the next (plan delay)" if c.held else "up to date")
                print(f"{args.channel} → {c.customer}: {c.delivered} delivered; {state}")
            failed = bool(report.errors)
            if args.follow is None:
                break
            time.sleep(args.follow)
    except KeyboardInterrupt:
        pass
    finally:
        sender.close()
        engine.dispose()
    return 1 if failed else 0


def _demo(args: argparse.Namespace) -> int:
    from connectors.files import shipped_path
    from connectors.store.engine import url_for
    from flows.billing_demo import run_demo
    from flows.commands.run import DEFAULT_DATA
    from flows.config import load_config
    from operators.billing.catalogue import load_catalogue

    engine = _open(args.store, must_exist=False)
    try:
        demo = run_demo(
            engine,
            url_for(args.store),
            [shipped_path(n) for n in DEFAULT_DATA],
            load_config(),
            load_catalogue(),
        )
    finally:
        engine.dispose()
    result = demo.close.result
    _print_close(result, demo.close.already_closed)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "invoices": [
                        i.model_dump(mode="json") | {"total_minor": i.total_minor}
                        for i in result.invoices
                    ],
                    "statements": [
                        {
                            "author": s.author,
                            "attributed_minor": s.attributed_minor,
                            "payable_minor": s.payable_minor,
                            "lines": len(s.lines),
                        }
                        for s in result.statements
                    ],
                    "kpis": result.kpis.as_dict() if result.kpis else None,
                },
                indent=2,
            )
        )
    return 0


def main(args: argparse.Namespace) -> int:
    return {
        "plans": _plans,
        "customers": _customers,
        "close": _close,
        "statement": _statement,
        "check": _check,
        "sync": _sync,
        "webhook": _webhook,
        "deliver": _deliver,
        "demo": _demo,
    }[args.billing_command](args)
