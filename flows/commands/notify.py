"""``quorum notify``: check the notification set-up, and send the daily report.

``quorum notify test [--config FILE]`` sends a test message to every configured recipient now
and prints what became of each (exit 1 when any failed). ``quorum notify report --report
report.json`` sends a run's report (written by ``quorum run``/``live``) as the daily summary to
the recipients subscribed to ``daily_report``; schedule it (cron, a Kubernetes CronJob) for a
daily report of a live deployment. Both audit each send when ``--store`` is given.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = "send a test notification to every recipient, or a run report as the daily summary"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="notify_command", metavar="ACTION", required=True)
    test = sub.add_parser("test", help="send a test message to every configured recipient")
    report = sub.add_parser("report", help="send a run report (report.json) as the daily summary")
    report.add_argument("--report", type=Path, default=Path("report.json"), help="JSON report")
    for action in (test, report):
        action.add_argument("--config", help="YAML configuration (notifications: section)")
        action.add_argument("--store", help="store whose audit log records each send")


def report_summary(report: dict[str, Any]) -> tuple[str, str]:
    """Title and body of the daily summary from a run report's JSON.

    >>> title, body = report_summary({"currency": "USDT", "end": "2022-02-01T05:31:00+00:00",
    ...     "total_return_pct": 0.62, "net_pnl": "620.5", "trades": 5, "wins": 4, "fills": 22,
    ...     "fees_paid": "396.86", "max_drawdown_pct": 0.54,
    ...     "decisions_by_band": {"ignore": 2317, "review": 9}})
    >>> title
    'Quorum report to 2022-02-01: +0.62 % (620.5 USDT)'
    >>> body.splitlines()[0]
    'trades 5 (4 won), fills 22, fees 396.86 USDT, max drawdown 0.54 %'
    """
    currency = report.get("currency", "")
    end = str(report.get("end") or "")[:10]
    title = (
        f"Quorum report to {end}: {report['total_return_pct']:+.2f} % "
        f"({report['net_pnl']} {currency})"
    )
    bands = ", ".join(f"{k} {v}" for k, v in sorted(report.get("decisions_by_band", {}).items()))
    body = "\n".join(
        [
            f"trades {report['trades']} ({report['wins']} won), fills {report['fills']}, "
            f"fees {report['fees_paid']} {currency}, "
            f"max drawdown {report['max_drawdown_pct']:.2f} %",
            f"decisions: {bands}",
        ]
    )
    return title, body


def main(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from connectors.notify.notifier import Notifier
    from connectors.notify.secrets import SecretMissingError
    from connectors.store.engine import url_for
    from flows.cli import UserError
    from flows.config import ConfigError, load_config
    from schemas.notifications import DeliveryOutcome, Notification, NotificationEvent, Severity

    try:
        config = load_config(args.config).notifications
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    if not config.enabled:
        raise UserError("no recipients configured: add a notifications.recipients list (--config)")
    now = datetime.now(UTC)
    if args.notify_command == "test":
        notification = Notification(
            event=NotificationEvent.TEST,
            key=f"test:{now.isoformat()}",
            title="Quorum test notification",
            body="If you can read this, this channel works.",
            ts=now,
        )
    else:
        try:
            report = json.loads(args.report.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read the report {args.report}: {exc}") from None
        title, body = report_summary(report)
        notification = Notification(
            event=NotificationEvent.DAILY_REPORT,
            key=f"report:{report.get('end')}",
            title=title,
            body=body,
            severity=Severity.INFO,
            ts=now,
        )
    try:
        notifier = Notifier(config, audit_url=url_for(args.store) if args.store else None)
    except SecretMissingError as exc:
        raise UserError(f"notifications: {exc}") from None
    try:
        deliveries = notifier.deliver(notification)
    finally:
        notifier.close()
    if not deliveries:
        print("no recipient is subscribed to this event")
    for d in deliveries:
        detail = f" ({d.error})" if d.error else ""
        print(f"{d.recipient:<20} {d.channel:<9} {d.outcome.value}{detail}")
    return 1 if any(d.outcome is DeliveryOutcome.FAILED for d in deliveries) else 0
