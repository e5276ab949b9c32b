"""Plan limits on the customer's API and SSE access: seats (active keys) and request rates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import create_key, revoke_key
from api.seats import SeatLimitError, create_seat_key
from api.settings import ApiSettings
from connectors.store.billing import store_catalogue
from connectors.store.signals import write_fused
from flows.cli import main as cli
from operators.billing.catalogue import DEFAULT_CATALOGUE_PATH, parse_catalogue
from schemas.signals import Decision
from tests.billing.conftest import fused

NOW = datetime(2022, 1, 20, 12, tzinfo=UTC)


def _catalogue_with(rates: dict[str, int], seats: dict[str, int]):
    data = yaml.safe_load(DEFAULT_CATALOGUE_PATH.read_text())
    data["version"] = 2
    for plan in data["plans"]:
        plan["entitlements"]["rate_limit_per_minute"] = rates.get(plan["plan_id"], 600)
        plan["entitlements"]["seats"] = seats.get(plan["plan_id"], 1)
    return parse_catalogue(data)


@pytest.fixture
def limited(billing_store):
    """Pro: 3 requests a minute and 2 seats; Basic: 1 seat."""
    _, engine = billing_store
    store_catalogue(engine, _catalogue_with({"pro": 3, "basic": 100}, {"pro": 2, "basic": 1}))
    write_fused(engine, [fused("open", datetime(2022, 1, 20, tzinfo=UTC), Decision.OPEN)])
    settings = ApiSettings(now=lambda: NOW, stream_max_seconds=0.2, stream_poll_seconds=0.02)
    return engine, TestClient(create_app(settings, engine=engine))


def test_issuing_a_key_beyond_the_plans_seats_is_refused(limited) -> None:
    engine, _ = limited
    create_seat_key(engine, "ana", ["signals:read"], now=NOW)
    second = create_seat_key(engine, "ana", ["signals:read"], now=NOW)
    with pytest.raises(SeatLimitError, match=r"'ana' holds 2 active API key.*'pro' allows 2 seat"):
        create_seat_key(engine, "ana", ["signals:read"], now=NOW)
    assert revoke_key(engine, second.key_id)  # a revoked key frees its seat
    create_seat_key(engine, "ana", ["signals:read"], now=NOW)
    # the desk's own keys (not a billing customer) have no seat limit
    for _ in range(3):
        create_seat_key(engine, "desk", ["signals:read"], now=NOW)


def test_serve_create_key_refuses_a_key_beyond_the_seats(limited, capsys) -> None:
    engine, _ = limited
    url = str(engine.url)
    assert cli(["serve", "--store", url, "--create-key", "bea"]) == 0
    assert cli(["serve", "--store", url, "--create-key", "bea"]) != 0
    err = capsys.readouterr().err
    assert "'bea' holds 1 active API key(s) and plan 'basic' allows 1 seat(s)" in err


def test_keys_beyond_the_seats_after_a_downgrade_are_refused_at_use(limited) -> None:
    engine, client = limited
    # keys made before the plan allowed fewer seats (create_key does not check seats)
    keys = [create_key(engine, "bea", ["signals:read"]).key for _ in range(2)]
    assert client.get("/v1/billing/feed", headers={"X-API-Key": keys[0]}).status_code == 200
    refused = client.get("/v1/billing/feed", headers={"X-API-Key": keys[1]})
    assert refused.status_code == 403
    assert "beyond the 1 seat(s) of plan 'basic'" in refused.json()["detail"]


def test_the_plans_rate_limit_counts_every_key_of_the_customer(limited) -> None:
    engine, client = limited
    a, b = (create_seat_key(engine, "ana", ["signals:read"], now=NOW).key for _ in range(2))
    statuses = [
        client.get("/v1/billing/feed", headers={"X-API-Key": key}).status_code for key in (a, b, a)
    ]
    assert statuses == [200, 200, 200]
    over = client.get("/v1/billing/feed", headers={"X-API-Key": b})
    assert over.status_code == 429
    assert "plan 'pro' exceeded for customer 'ana': 3 requests per minute" in over.json()["detail"]
    assert int(over.headers["Retry-After"]) >= 1
    # the SSE channel draws on the same budget: the stream does not open
    with client.stream("GET", "/v1/billing/feed/stream", headers={"X-API-Key": a}) as stream:
        assert stream.status_code == 429
    # another customer's budget is untouched
    bea = create_seat_key(engine, "bea", ["signals:read"], now=NOW).key
    assert client.get("/v1/billing/feed", headers={"X-API-Key": bea}).status_code == 200
