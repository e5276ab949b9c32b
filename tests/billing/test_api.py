"""Entitlements enforced on the API and SSE channels; billing routes; Stripe's webhook route."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import create_key
from api.settings import ApiSettings
from connectors.store.signals import write_fused
from schemas.signals import Decision
from tests.billing.conftest import SECRET, contribution, event, fused, meter_into, sign

NOW = datetime(2022, 1, 20, 12, tzinfo=UTC)


@pytest.fixture
def api(billing_store):
    _, engine = billing_store
    signals = [
        fused("open-old", NOW - timedelta(minutes=20), Decision.OPEN),
        fused("open-new", NOW - timedelta(minutes=5), Decision.OPEN),
        fused("review", NOW - timedelta(minutes=30), Decision.REVIEW),
        fused("ignore", NOW - timedelta(minutes=40), Decision.IGNORE),
        fused("eth", NOW - timedelta(minutes=50), Decision.OPEN, asset="ETH-PERP"),
        fused(
            "only-15m",
            NOW - timedelta(minutes=60),
            Decision.OPEN,
            contributions=(contribution("ml:online", "15m", 0.6),),
        ),
    ]
    write_fused(engine, signals)
    meter_into(engine, signals)
    keys = {
        owner: create_key(engine, owner, ["signals:read"]).key
        for owner in ("ana", "bea", "cy", "desk")
    }
    keys["admin"] = create_key(engine, "root", ["admin"]).key
    settings = ApiSettings(now=lambda: NOW, stream_max_seconds=0.3, stream_poll_seconds=0.02)
    client = TestClient(create_app(settings, engine=engine))
    return client, {k: {"X-API-Key": v} for k, v in keys.items()}


def _feed(client, headers) -> list[str]:
    response = client.get("/v1/billing/feed", headers=headers)
    assert response.status_code == 200, response.text
    return [item["fused_id"] for item in response.json()["items"]]


def _stream(client, headers) -> tuple[int, list[dict]]:
    with client.stream("GET", "/v1/billing/feed/stream", headers=headers) as response:
        if response.status_code != 200:
            return response.status_code, []
        events = [
            json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")
        ]
    return 200, events


def test_api_channel_delivers_only_what_the_plan_allows(api) -> None:
    client, h = api
    # Basic: BTC only, OPEN only, 15 minutes late, 1h/4h contributions only
    assert _feed(client, h["bea"]) == ["open-old"]
    pro = client.get("/v1/billing/feed", headers=h["ana"]).json()
    assert [i["fused_id"] for i in pro["items"]] == [
        "open-new",
        "open-old",
        "review",
        "eth",
        "only-15m",
    ]
    assert client.get("/v1/billing/feed", headers=h["cy"]).json()["price_per_signal_minor"] == 50


def test_sse_channel_delivers_only_what_the_plan_allows(api) -> None:
    client, h = api
    assert _stream(client, h["bea"])[0] == 403  # Basic has no SSE channel
    status, events = _stream(client, h["ana"])
    assert status == 200
    assert [e["fused_id"] for e in events] == ["only-15m", "eth", "review", "open-old", "open-new"]
    shown = {e["fused_id"]: e for e in events}
    assert [c["timeframe"] for c in shown["review"]["contributions"]] == ["1h", "4h"]


def test_customer_keys_are_refused_on_the_unrestricted_routes(api) -> None:
    client, h = api
    assert client.get("/v1/signals/latest", headers=h["bea"]).status_code == 403
    assert client.get("/v1/signals/stream", headers=h["ana"]).status_code == 403
    assert client.get("/v1/signals/latest", headers=h["desk"]).status_code == 200
    assert client.get("/v1/billing/feed", headers=h["desk"]).status_code == 404


def test_plans_usage_and_statements_routes(api) -> None:
    client, h = api
    plans = client.get("/v1/billing/plans", headers=h["cy"]).json()
    assert {p["plan_id"]: p["price_per_signal_minor"] for p in plans}["per_signal"] == 50
    usage = client.get("/v1/billing/usage", params={"month": "2022-01"}, headers=h["cy"]).json()
    assert usage["uninvoiced_minor"] == 50 * len(usage["items"]) > 0  # the price before charging
    sub = client.get("/v1/billing/subscription", headers=h["bea"]).json()
    assert sub["plan_in_force"]["plan_id"] == "basic"
    assert client.get("/v1/billing/statements", headers=h["cy"]).status_code == 403
    assert client.get("/v1/billing/statements", headers=h["admin"]).json() == []
    assert (
        client.get("/v1/billing/usage", params={"month": "2022-13"}, headers=h["cy"]).status_code
        == 422
    )


def test_stripe_webhook_route(api, monkeypatch) -> None:
    client, _ = api
    monkeypatch.setenv("QUORUM_STRIPE_API_KEY", "sk_test_quorum")
    monkeypatch.setenv("QUORUM_STRIPE_WEBHOOK_SECRET", SECRET)
    payload = event(
        "evt_1",
        "customer.subscription.updated",
        {"id": "sub_1", "status": "past_due", "metadata": {}},
        1_700_000_000,
    )
    ok = client.post(
        "/v1/billing/webhooks/stripe", content=payload, headers={"Stripe-Signature": sign(payload)}
    )
    assert ok.status_code == 200 and ok.json()["outcome"] == "ignored"
    again = client.post(
        "/v1/billing/webhooks/stripe", content=payload, headers={"Stripe-Signature": sign(payload)}
    )
    assert again.json()["outcome"] == "duplicate"
    bad = client.post(
        "/v1/billing/webhooks/stripe",
        content=payload,
        headers={"Stripe-Signature": sign(payload, secret="whsec_wrong")},
    )
    assert bad.status_code == 400
