"""Shared builders for the billing tests: fused signals, subscriptions, a store with a roster."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from connectors.store.billing import store_catalogue, upsert_customer, upsert_subscription
from connectors.store.engine import open_store
from connectors.store.signals import write_fused
from connectors.stripe.config import StripeConfig
from operators.billing.catalogue import DEFAULT_CATALOGUE_PATH, load_catalogue, parse_catalogue
from schemas.billing import Subscription, SubscriptionStatus
from schemas.common import Direction, Timeframe
from schemas.signals import Contribution, Decision, FusedSignal
from tests.billing.stripe_server import API_KEY, start_server
from tests.kafka.conftest import read_topic, tansu  # noqa: F401  (broker fixtures, shared)
from tests.notify.conftest import http_peer  # noqa: F401  (a local HTTP server, shared)

JAN = datetime(2022, 1, 1, tzinfo=UTC)
SECRET = "whsec_test_quorum"


def day(n: int, hour: int = 0) -> datetime:
    return JAN + timedelta(days=n - 1, hours=hour)


def contribution(origin: str, timeframe: str, share: float) -> Contribution:
    return Contribution(
        origin=origin,
        timeframe=Timeframe(timeframe),
        direction=Direction.LONG if share > 0 else Direction.SHORT,
        confidence=min(1.0, abs(share)),
        weight=1.0,
        signed=share,
        share=share,
        signal_id=f"s-{origin}",
    )


def fused(
    fused_id: str,
    ts: datetime,
    decision: Decision = Decision.REVIEW,
    asset: str = "BTC-PERP",
    contributions: tuple[Contribution, ...] = (
        contribution("rules:rsi_reversal_short", "1h", 0.3),
        contribution("stat:trend_strength", "4h", 0.3),
    ),
) -> FusedSignal:
    return FusedSignal(
        fused_id=fused_id,
        asset=asset,
        timestamp=ts,
        score=0.6,
        direction=Direction.LONG,
        decision=decision,
        contributions=list(contributions),
    )


def subscription(
    customer: str,
    plan: str,
    *,
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
    start: datetime = JAN,
    trial_days: int | None = None,
    ended_at: datetime | None = None,
    past_due_since: datetime | None = None,
) -> Subscription:
    return Subscription(
        subscription_id=f"sub-{customer}",
        customer_id=customer,
        plan_id=plan,
        status=status,
        started_at=start,
        trial_ends_at=None if trial_days is None else start + timedelta(days=trial_days),
        ended_at=ended_at,
        past_due_since=past_due_since,
    )


@pytest.fixture
def billing_store(tmp_path):
    """A SQLite store with the shipped catalogue and three customers (pro, per-signal, basic)."""
    url = f"sqlite:///{tmp_path / 'billing.sqlite'}"
    engine = open_store(url)
    store_catalogue(engine, load_catalogue())
    for sub in (
        subscription("ana", "pro"),
        subscription("cy", "per_signal"),
        subscription("bea", "basic"),
    ):
        upsert_customer(
            engine, sub.customer_id, sub.customer_id.title(), f"{sub.customer_id}@x", created_at=JAN
        )
        upsert_subscription(engine, sub)
    yield url, engine
    engine.dispose()


@pytest.fixture
def stripe_server():
    server, url = start_server()
    yield (
        server.fake,
        StripeConfig(api_key=API_KEY, api_base=url, webhook_secret=SECRET, max_network_retries=0),
    )
    server.shutdown()


@pytest.fixture
def stripe_env(stripe_server, monkeypatch):
    """The loopback Stripe server, and the ``QUORUM_STRIPE_*`` variables pointing the CLI at it."""
    _, config = stripe_server
    for name, value in (
        ("API_KEY", config.api_key.get_secret_value()),
        ("API_BASE", config.api_base),
        ("WEBHOOK_SECRET", SECRET),
        ("MAX_NETWORK_RETRIES", "0"),
    ):
        monkeypatch.setenv(f"QUORUM_STRIPE_{name}", value)
    return stripe_server


def sign(payload: bytes, secret: str = SECRET, at: int | None = None) -> str:
    """A ``Stripe-Signature`` header as Stripe computes it (v1 = HMAC-SHA256 of ts.payload)."""
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def event(event_id: str, kind: str, obj: dict, created: int) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "created": created,
            "api_version": "2024-06-20",
            "livemode": False,
            "data": {"object": obj},
        }
    ).encode()


def meter_into(engine, signals, subscriptions=None) -> None:
    """Meter ``signals`` for ana (Pro), cy (per signal) and bea (Basic) into the store."""
    from connectors.store.billing import write_usage
    from operators.billing.catalogue import load_catalogue
    from operators.billing.metering import Roster, meter

    roster = Roster(
        load_catalogue(),
        subscriptions
        or [
            subscription("ana", "pro"),
            subscription("cy", "per_signal"),
            subscription("bea", "basic"),
        ],
    )
    write_usage(engine, [u for s in signals for u in meter(s, roster)])


# --- push channels (kafka, webhook) ------------------------------------------------------------

PUSH_NOW = datetime(2022, 1, 20, 12, tzinfo=UTC)
# stream order: eth, ignore, review, old-open, new-open
PUSH_SIGNALS = [
    fused("eth", PUSH_NOW - timedelta(minutes=50), Decision.OPEN, asset="ETH-PERP"),
    fused("ignore", PUSH_NOW - timedelta(minutes=40), Decision.IGNORE),
    fused("review", PUSH_NOW - timedelta(minutes=30), Decision.REVIEW),
    fused("old-open", PUSH_NOW - timedelta(minutes=20), Decision.OPEN),
    fused("new-open", PUSH_NOW - timedelta(minutes=5), Decision.OPEN),
]


def push_catalogue():
    """The shipped catalogue with Basic also on kafka and webhook (to see its 15-minute delay)."""
    data = yaml.safe_load(DEFAULT_CATALOGUE_PATH.read_text())
    data["version"] = 2
    basic = next(p for p in data["plans"] if p["plan_id"] == "basic")
    basic["entitlements"]["channels"] = ["api", "kafka", "webhook"]
    return parse_catalogue(data)


@pytest.fixture
def push_store(billing_store):
    """ana (Pro: no push channel), bea (Basic + push, BTC OPEN 15 min late), cy (per signal),
    eve (Enterprise: everything at once); the five signals above."""
    _, engine = billing_store
    store_catalogue(engine, push_catalogue())
    upsert_customer(engine, "eve", "Eve", "eve@x", created_at=JAN)
    upsert_subscription(engine, subscription("eve", "enterprise"))
    write_fused(engine, PUSH_SIGNALS)
    return engine
