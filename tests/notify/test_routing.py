"""Who is told what: subscriptions, assets, severities, deduplication, quiet hours, rate limits;
and which records become notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from operators.notify.config import NotifyConfig
from operators.notify.derive import NotificationDeriver
from operators.notify.routing import Router
from schemas.market import FeedHealth
from schemas.notifications import DeliveryOutcome, Notification, NotificationEvent, Severity
from schemas.operations import TradingStateChange
from schemas.signals import Decision, Direction, FusedSignal

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def config(*recipients: dict, **extra: object) -> NotifyConfig:
    base = {"channel": "webhook", "target": "http://127.0.0.1:9/hook"}
    return NotifyConfig.model_validate({"recipients": [{**base, **r} for r in recipients], **extra})


def note(key: str, event: str = "fill", severity: str = "info", asset: str | None = "BTC/USDT"):
    return Notification(event=event, key=key, title="t", severity=severity, ts=T0, asset=asset)


def routed(router: Router, n: Notification, now: datetime = T0) -> dict[str, str | None]:
    return {r.name: (o.value if o else None) for r, o in router.route(n, now)}


def test_subscriptions_assets_and_severity_select_recipients() -> None:
    router = Router(
        config(
            {"name": "all"},
            {"name": "reviews", "events": ["review_pending"]},
            {"name": "eth", "assets": ["ETH/BTC"]},
            {"name": "loud", "min_severity": "critical"},
        )
    )
    assert routed(router, note("fill:1")) == {"all": None}
    assert routed(router, note("r:1", "review_pending", "warning")) == {
        "all": None,
        "reviews": None,
    }
    assert routed(router, note("s:1", "trading_state", "critical", None)) == {
        "all": None,
        "eth": None,  # no asset on the record: an asset filter does not hide it
        "loud": None,
    }
    assert set(routed(router, note("t:1", "test", "info", None))) == {
        "all",
        "reviews",
        "eth",
        "loud",
    }


def test_the_same_fact_is_sent_once_per_window() -> None:
    router = Router(config({"name": "a"}, dedupe_window_s=600))
    assert routed(router, note("fill:1")) == {"a": None}
    assert routed(router, note("fill:1"), T0 + timedelta(minutes=9)) == {"a": "duplicate"}
    assert routed(router, note("fill:1"), T0 + timedelta(minutes=11)) == {"a": None}


def test_quiet_hours_in_the_recipients_zone_wrap_midnight() -> None:
    quiet = {"start": "22:00", "end": "07:00", "timezone": "America/New_York"}
    router = Router(config({"name": "ny", "quiet_hours": quiet}))
    # 03:30 UTC = 22:30 in New York (EST): quiet; 12:00 UTC = 07:00: awake again
    night, morning = datetime(2024, 3, 1, 3, 30, tzinfo=UTC), datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert routed(router, note("f:1"), night) == {"ny": "quiet_hours"}
    assert routed(router, note("s:1", "trading_state", "critical"), night) == {"ny": None}
    assert routed(router, note("f:1"), morning) == {"ny": None}


def test_a_recipient_is_rate_limited_per_minute() -> None:
    router = Router(config({"name": "a", "max_per_minute": 3}, {"name": "b"}))
    outcomes = [routed(router, note(f"fill:{i}")) for i in range(5)]
    assert [o["a"] for o in outcomes] == [None, None, None, "rate_limited", "rate_limited"]
    assert [o["b"] for o in outcomes] == [None] * 5


def test_configuration_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        config(
            {
                "name": "a",
                "quiet_hours": {"start": "1:00", "end": "2:00", "timezone": "Mars/Olympus"},
            }
        )
    with pytest.raises(ValidationError, match="repeated: \\['a'\\]"):
        config({"name": "a"}, {"name": "a"})
    with pytest.raises(ValidationError, match="events"):
        config({"name": "a", "events": ["lunch"]})


def fused(decision: Decision) -> FusedSignal:
    return FusedSignal(
        fused_id="fz1",
        asset="BTC-PERP",
        timestamp=T0,
        score=0.62,
        direction=Direction.LONG,
        decision=decision,
        reasons=["consensus 15m/1h/4h long"],
    )


def test_review_decisions_become_review_notifications_with_a_link() -> None:
    deriver = NotificationDeriver("https://dash.example:8501/")
    n = deriver.derive(fused(Decision.REVIEW))
    assert n.event is NotificationEvent.REVIEW_PENDING and n.severity is Severity.WARNING
    assert n.key == "review:fz1" and n.asset == "BTC-PERP"
    assert n.link == "https://dash.example:8501/reviews?fused_id=fz1"
    assert n.title == "Review: long BTC-PERP, score +0.62 (approve or reject)"
    assert deriver.derive(fused(Decision.IGNORE)) is None
    assert deriver.derive(fused(Decision.OPEN)) is None


def test_trading_state_severity_follows_the_state() -> None:
    deriver = NotificationDeriver()
    halt = TradingStateChange(
        previous="active",
        current="halted",
        cause="manual",
        detail="by ops: fat finger",
        timestamp=T0,
    )
    n = deriver.derive(halt)
    assert n.severity is Severity.CRITICAL and n.title == "Trading halted (was active)"
    resume = TradingStateChange(
        previous="halted", current="active", cause="manual", detail="by ops", timestamp=T0
    )
    assert deriver.derive(resume).severity is Severity.INFO


def health(status: str, event: str = "status", second: int = 0) -> FeedHealth:
    return FeedHealth(
        source="binance",
        symbol="BTC/USDT",
        status=status,
        ts=T0 + timedelta(seconds=second),
        silence_s=12.5,
        event=event,
    )


def test_feeds_are_reported_when_they_go_stale_and_when_they_recover() -> None:
    deriver = NotificationDeriver()
    sequence = [
        health("stale", second=0),  # start-up: nothing yet, not news
        health("live", second=1),  # first data: not a recovery
        health("live", "heartbeat", 2),
        health("stale", second=3),
        health("disconnected", second=4),  # still down: told once
        health("catching_up", second=5),
        health("live", second=6),
    ]
    told = [deriver.derive(h) for h in sequence]
    events = [n.event.value if n else None for n in told]
    assert events == [None, None, None, "feed_stale", None, None, "feed_recovered"]
    assert told[3].title == "Feed stale: binance BTC/USDT"
    assert told[3].asset == "BTC/USDT"


def test_delivery_outcomes_are_the_documented_ones() -> None:
    assert {o.value for o in DeliveryOutcome} == {
        "sent",
        "failed",
        "duplicate",
        "quiet_hours",
        "rate_limited",
    }
