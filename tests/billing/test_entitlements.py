"""Entitlement checks, hand-built cases: plan in force over a subscription's life, every denial."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from operators.billing.catalogue import load_catalogue
from operators.billing.entitlements import Denial, check_delivery, plan_in_force, visible
from schemas.billing import Channel, SubscriptionStatus
from schemas.common import Direction
from schemas.signals import Decision, FusedSignal
from tests.billing.conftest import contribution, subscription

CAT = load_catalogue()
T0 = datetime(2022, 1, 10, 12, tzinfo=UTC)


def _signal(
    decision: Decision = Decision.OPEN, asset: str = "BTC-PERP", contribs=()
) -> FusedSignal:
    return FusedSignal(
        fused_id="f1",
        asset=asset,
        timestamp=T0,
        score=0.8,
        direction=Direction.LONG,
        decision=decision,
        contributions=list(contribs),
    )


def _day(n: int) -> datetime:
    return datetime(2022, 1, n, tzinfo=UTC)


@pytest.mark.parametrize(
    ("plan", "signal", "channel", "now", "expected"),
    [
        ("basic", _signal(), Channel.API, T0 + timedelta(minutes=15), None),
        ("basic", _signal(), Channel.API, T0 + timedelta(minutes=14, seconds=59), Denial.TOO_EARLY),
        ("basic", _signal(), Channel.SSE, T0 + timedelta(hours=1), Denial.CHANNEL),
        ("basic", _signal(asset="ETH-PERP"), Channel.API, T0 + timedelta(hours=1), Denial.ASSET),
        ("basic", _signal(Decision.REVIEW), Channel.API, T0 + timedelta(hours=1), Denial.DECISION),
        ("pro", _signal(Decision.REVIEW), Channel.SSE, T0, None),
        ("pro", _signal(Decision.IGNORE), Channel.SSE, T0, Denial.DECISION),
        ("pro", _signal(), Channel.KAFKA, T0, Denial.CHANNEL),
        ("enterprise", _signal(Decision.IGNORE), Channel.WEBHOOK, T0, None),
        # basic shows only 1h/4h contributions: a 15m-only signal is withheld
        (
            "basic",
            _signal(contribs=[contribution("rules:rsi_reversal_short", "15m", 0.4)]),
            Channel.API,
            T0 + timedelta(hours=1),
            Denial.SOURCES,
        ),
    ],
)
def test_check_delivery(plan, signal, channel, now, expected) -> None:
    assert check_delivery(CAT.plan(plan).entitlements, signal, channel, now) == expected


def test_no_plan_is_denied_everywhere() -> None:
    assert check_delivery(None, _signal(), Channel.API, T0 + timedelta(days=1)) is Denial.NO_PLAN


def test_visible_keeps_only_entitled_contributions() -> None:
    sig = _signal(
        contribs=[
            contribution("stat:zscore_reversion", "1h", 0.4),
            contribution("ml:online", "15m", 0.4),
        ]
    )
    shown = visible(CAT.plan("basic").entitlements, sig)
    assert [c.origin for c in shown.contributions] == ["stat:zscore_reversion"]
    assert visible(CAT.plan("enterprise").entitlements, sig) is sig


def test_plan_in_force_over_a_subscription_life() -> None:
    sub = subscription(
        "c1",
        "pro",
        status=SubscriptionStatus.CANCELED,
        trial_days=7,
        past_due_since=_day(12),
        ended_at=_day(25),
    )

    def plan_on(day: int, hour: int = 0) -> str | None:
        plan = plan_in_force(CAT, sub, _day(day) + timedelta(hours=hour))
        return None if plan is None else plan.plan_id

    assert plan_in_force(CAT, sub, _day(1) - timedelta(seconds=1)) is None
    assert plan_on(1) == "pro"  # trialing
    assert plan_on(9) == "pro"  # active
    assert plan_on(18, 23) == "pro"  # past due, 6 days 23 h: inside the 7-day grace
    assert plan_on(19) == "basic"  # grace over: reduced to the past_due_plan
    assert plan_on(25) is None  # canceled
    assert plan_in_force(CAT, None, _day(2)) is None


def test_a_trial_that_never_converts_expires() -> None:
    sub = subscription("c2", "basic", status=SubscriptionStatus.TRIALING, trial_days=14)
    assert plan_in_force(CAT, sub, _day(14)).plan_id == "basic"
    assert plan_in_force(CAT, sub, _day(15)) is None
