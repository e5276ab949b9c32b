"""An SLA breach found by the flow's metrics reaches the recipients subscribed to
``sla_breach`` (a webhook on a local HTTP server), once per breach, and the send is audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from connectors.notify.notifier import Notifier, sla_breach_listener
from connectors.prometheus.metrics import FlowMetrics
from connectors.store.audit import verify_store
from connectors.store.engine import open_store
from operators.notify.config import NotifyConfig
from schemas.market import FeedHealth

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def health(status: str, second: int) -> FeedHealth:
    return FeedHealth(
        source="binance",
        symbol="BTC/USDT",
        status=status,
        ts=T0 + timedelta(seconds=second),
        event="status",
    )


def test_a_feed_below_its_uptime_target_is_notified_once_and_audited(
    http_peer, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("QUORUM_WEBHOOK_SECRET", "s")
    store = f"sqlite:///{tmp_path / 'q.sqlite'}"
    recipients = [
        {"name": "ops", "channel": "webhook", "target": http_peer.url, "events": ["sla_breach"]},
        {"name": "desk", "channel": "webhook", "target": http_peer.url, "events": ["fill"]},
    ]
    config = NotifyConfig.model_validate({"recipients": recipients})
    now = [T0.timestamp()]
    metrics = FlowMetrics(
        CollectorRegistry(), live=True, uptime_window_s=3600, clock=lambda: now[0]
    )
    with Notifier(config, audit_url=store, sleep=lambda s: None) as notifier:
        listener = sla_breach_listener(notifier)
        assert listener is not None
        metrics.watch_sla(uptime_target=0.99, latency_p99_s=1.0, on_breach=listener, every_s=1)
        for second, status in ((0, "live"), (60, "stale"), (80, "stale"), (90, "live")):
            now[0] = T0.timestamp() + second + 1
            metrics.observe([health(status, second)])
        metrics.check_sla()  # still in breach (uptime 60/91): not told again
    assert notifier.outcomes == {"sent": 1}
    [request] = http_peer.received
    body = request.json()
    assert body["event"] == "sla_breach" and body["severity"] == "warning"
    assert body["title"].startswith("SLA breach: feed binance/BTC/USDT uptime ")
    assert body["asset"] == "BTC/USDT"

    engine = open_store(store)
    with engine.connect() as conn:
        audited = (
            conn.execute(text("SELECT payload FROM audit_log WHERE kind = 'notification'"))
            .scalars()
            .all()
        )
    assert len(audited) == 1 and "sla_breach" in audited[0] and '"ops"' in audited[0]
    assert verify_store(engine).ok
    engine.dispose()


def test_without_notifications_there_is_no_listener() -> None:
    assert sla_breach_listener(None) is None
