"""Every channel against a real local peer: what arrives, retries, secrets kept out of errors."""

from __future__ import annotations

import email
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from connectors.notify.channels import verify_webhook_signature
from connectors.notify.notifier import Notifier
from connectors.store.audit import verify_store
from connectors.store.engine import open_store
from operators.notify.config import NotifyConfig
from schemas.notifications import DeliveryOutcome, Notification, Severity

TOKEN = "123456:AAbbCCddEEffGG-secret-token"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def note(key: str = "fill:f1", **fields: object) -> Notification:
    values: dict[str, object] = {
        "event": "fill",
        "key": key,
        "title": "Fill: buy 0.5 BTC/USDT @ 42000",
        "body": "fee 21",
        "ts": T0,
    }
    values.update(fields)
    return Notification.model_validate(values)


def notifier(cfg: dict, waits: list[float] | None = None, **kwargs: object) -> Notifier:
    config = NotifyConfig.model_validate({"retry_initial_s": 0.5, **cfg})
    sleep = waits.append if waits is not None else lambda s: None
    return Notifier(config, sleep=sleep, clock=lambda: T0, **kwargs)


def test_telegram_sends_the_text_to_the_chat(http_peer, monkeypatch) -> None:
    monkeypatch.setenv("QUORUM_TELEGRAM_TOKEN", TOKEN)
    n = notifier(
        {
            "telegram": {"api_base": http_peer.url},
            "recipients": [{"name": "desk", "channel": "telegram", "target": "-100200"}],
        }
    )
    [delivery] = n.deliver(note(link="http://dash/reviews?fused_id=x"))
    assert delivery.outcome is DeliveryOutcome.SENT and delivery.attempts == 1
    [request] = http_peer.received
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.json()["chat_id"] == "-100200"
    assert request.json()["text"].splitlines() == [
        "Fill: buy 0.5 BTC/USDT @ 42000",
        "fee 21",
        "http://dash/reviews?fused_id=x",
    ]


def test_slack_webhook_url_comes_from_the_environment(http_peer, monkeypatch) -> None:
    monkeypatch.setenv("QUORUM_SLACK_URL", f"{http_peer.url}/services/T0/B0/xyz")
    n = notifier(
        {"recipients": [{"name": "room", "channel": "slack", "target": "env:QUORUM_SLACK_URL"}]}
    )
    [delivery] = n.deliver(note())
    assert delivery.outcome is DeliveryOutcome.SENT
    assert http_peer.received[0].path == "/services/T0/B0/xyz"
    assert http_peer.received[0].json() == {"text": "Fill: buy 0.5 BTC/USDT @ 42000\nfee 21"}


def test_webhook_is_signed_and_the_signature_verifies(http_peer, monkeypatch) -> None:
    monkeypatch.setenv("QUORUM_WEBHOOK_SECRET", "whk-test-secret")
    n = notifier(
        {"recipients": [{"name": "app", "channel": "webhook", "target": f"{http_peer.url}/hook"}]}
    )
    [delivery] = n.deliver(note())
    assert delivery.outcome is DeliveryOutcome.SENT
    request = http_peer.received[0]
    stamp, signature = request.headers["X-Quorum-Timestamp"], request.headers["X-Quorum-Signature"]
    assert verify_webhook_signature("whk-test-secret", stamp, request.body, signature)
    assert not verify_webhook_signature("other", stamp, request.body, signature)
    assert not verify_webhook_signature("whk-test-secret", stamp, request.body + b" ", signature)
    assert request.json()["key"] == "fill:f1" and request.json()["event"] == "fill"


def test_email_goes_through_smtp(smtp_peer) -> None:
    n = notifier(
        {
            "smtp": {"host": smtp_peer.host, "port": smtp_peer.port, "starttls": False},
            "recipients": [{"name": "ops", "channel": "email", "target": "ops@example.test"}],
        }
    )
    [delivery] = n.deliver(note())
    assert delivery.outcome is DeliveryOutcome.SENT
    [(sender, rcpts, content)] = smtp_peer.mailbox.messages
    message = email.message_from_bytes(content)
    assert sender == "quorum@localhost" and rcpts == ["ops@example.test"]
    assert message["Subject"] == "[Quorum] Fill: buy 0.5 BTC/USDT @ 42000"
    assert "fee 21" in message.get_payload()


def test_server_errors_are_retried_with_backoff_until_sent(http_peer, monkeypatch) -> None:
    monkeypatch.setenv("QUORUM_WEBHOOK_SECRET", "s")
    http_peer.answer_next(503)
    http_peer.answer_next(500)
    waits: list[float] = []
    n = notifier(
        {"recipients": [{"name": "app", "channel": "webhook", "target": http_peer.url}]}, waits
    )
    [delivery] = n.deliver(note())
    assert delivery.outcome is DeliveryOutcome.SENT and delivery.attempts == 3
    assert waits == [0.5, 1.0]  # exponential backoff
    assert len(http_peer.received) == 3


def test_retry_after_is_honoured(http_peer, monkeypatch) -> None:
    monkeypatch.setenv("QUORUM_TELEGRAM_TOKEN", TOKEN)
    http_peer.answer_next(429, b'{"ok":false,"error_code":429,"parameters":{"retry_after":7}}')
    waits: list[float] = []
    n = notifier(
        {
            "telegram": {"api_base": http_peer.url},
            "recipients": [{"name": "desk", "channel": "telegram", "target": "1"}],
        },
        waits,
    )
    [delivery] = n.deliver(note())
    assert delivery.outcome is DeliveryOutcome.SENT and waits == [7.0]


def test_a_permanent_error_fails_at_once_and_never_leaks_the_token(http_peer, monkeypatch) -> None:
    monkeypatch.setenv("QUORUM_TELEGRAM_TOKEN", TOKEN)
    http_peer.answer_next(403, b'{"ok":false,"error_code":403}')
    n = notifier(
        {
            "telegram": {"api_base": http_peer.url},
            "recipients": [{"name": "desk", "channel": "telegram", "target": "1"}],
        }
    )
    [delivery] = n.deliver(note())
    assert delivery.outcome is DeliveryOutcome.FAILED and delivery.attempts == 1
    assert delivery.error == "Telegram answered HTTP 403"
    assert TOKEN not in repr(delivery)


def test_an_unreachable_server_fails_after_every_retry(monkeypatch) -> None:
    monkeypatch.setenv("QUORUM_WEBHOOK_SECRET", "s")
    waits: list[float] = []
    n = notifier(
        {
            "retry_attempts": 3,
            "timeout_s": 2,
            "recipients": [{"name": "app", "channel": "webhook", "target": "http://127.0.0.1:9/x"}],
        },
        waits,
    )
    [delivery] = n.deliver(note())
    assert delivery.outcome is DeliveryOutcome.FAILED and delivery.attempts == 3
    assert delivery.error.startswith("webhook unreachable") and len(waits) == 2


def test_a_missing_secret_stops_start_up_naming_it() -> None:
    with pytest.raises(ValueError, match="QUORUM_NOT_SET_ANYWHERE is not set"):
        notifier(
            {
                "recipients": [
                    {"name": "room", "channel": "slack", "target": "env:QUORUM_NOT_SET_ANYWHERE"}
                ]
            }
        )


def test_sends_and_failures_are_audited_in_the_chain(http_peer, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("QUORUM_WEBHOOK_SECRET", "s")
    store = f"sqlite:///{tmp_path / 'q.sqlite'}"
    http_peer.answer_next(400)
    with notifier(
        {"recipients": [{"name": "app", "channel": "webhook", "target": http_peer.url}]},
        audit_url=store,
    ) as n:
        n.submit(note("fill:f1"))
        n.submit(note("fill:f2"))
        n.submit(note("fill:f2"))  # the same fact again: deduplicated, not sent
    assert n.outcomes == {"failed": 1, "sent": 1, "duplicate": 1}
    engine = open_store(store)
    with engine.connect() as conn:
        payloads = (
            conn.execute(
                text("SELECT payload FROM audit_log WHERE kind = 'notification' ORDER BY seq")
            )
            .scalars()
            .all()
        )
    assert ['"failed"' in p for p in payloads] == [True, False]
    assert verify_store(engine).ok
    engine.dispose()


def test_critical_notifications_pass_quiet_hours(http_peer, monkeypatch) -> None:
    monkeypatch.setenv("QUORUM_WEBHOOK_SECRET", "s")
    quiet = {"start": "11:00", "end": "13:00", "timezone": "UTC"}  # T0 is 12:00 UTC
    n = notifier(
        {
            "recipients": [
                {"name": "app", "channel": "webhook", "target": http_peer.url, "quiet_hours": quiet}
            ]
        }
    )
    [held] = n.deliver(note("state:1", event="trading_state", severity=Severity.WARNING))
    [sent] = n.deliver(note("state:2", event="trading_state", severity=Severity.CRITICAL))
    assert held.outcome is DeliveryOutcome.QUIET_HOURS and sent.outcome is DeliveryOutcome.SENT
    assert len(http_peer.received) == 1


def test_notify_test_command_reports_each_recipient(http_peer, monkeypatch, tmp_path, capsys):
    from flows.cli import main as cli_main

    monkeypatch.setenv("QUORUM_WEBHOOK_SECRET", "s")
    config = tmp_path / "n.yaml"
    config.write_text(
        "notifications:\n  recipients:\n"
        f"    - {{name: ok-app, channel: webhook, target: '{http_peer.url}/a'}}\n"
        "    - {name: gone, channel: webhook, target: 'http://127.0.0.1:9/b'}\n"
        "  retry_attempts: 1\n"
    )
    assert cli_main(["notify", "test", "--config", str(config)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ok-app", "webhook", "sent"]
    assert out[1].startswith("gone") and "failed (webhook unreachable" in out[1]
    assert http_peer.received[0].json()["event"] == "test"


def test_notify_report_sends_the_run_summary(http_peer, monkeypatch, tmp_path) -> None:
    from flows.cli import main as cli_main

    monkeypatch.setenv("QUORUM_WEBHOOK_SECRET", "s")
    config = tmp_path / "n.yaml"
    config.write_text(
        "notifications:\n  recipients:\n"
        f"    - {{name: app, channel: webhook, target: '{http_peer.url}',"
        " events: [daily_report]}\n"
    )
    report = tmp_path / "report.json"
    report.write_text(
        '{"currency": "USDT", "end": "2022-02-01T05:31:00+00:00", "total_return_pct": -1.5,'
        ' "net_pnl": "-1500", "trades": 3, "wins": 1, "fills": 6, "fees_paid": "12.5",'
        ' "max_drawdown_pct": 2.25, "decisions_by_band": {"review": 2}}'
    )
    args = ["notify", "report", "--config", str(config), "--report", str(report)]
    assert cli_main(args) == 0
    body = http_peer.received[0].json()
    assert body["title"] == "Quorum report to 2022-02-01: -1.50 % (-1500 USDT)"
    assert body["event"] == "daily_report"
