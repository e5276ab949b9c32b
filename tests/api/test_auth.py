"""Authentication (401), scopes (403), per-key rate limits (429) and how keys are stored."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import Engine

from api.keys import Scope, api_keys, authenticate, create_key, list_keys, parse_scopes, revoke_key
from api.ratelimit import RateLimiter, TokenBucket

READ_ROUTES = [
    "/v1/signals/latest",
    "/v1/signals",
    "/v1/source-signals",
    "/v1/reviews",
    "/v1/runs",
    "/v1/positions",
    "/v1/orders",
    "/v1/fills",
    "/v1/equity",
    "/v1/health",
    "/metrics",
]


@pytest.mark.parametrize("path", [*READ_ROUTES, "/v1/audit", "/v1/audit/verify"])
def test_every_route_needs_a_key(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert "Bearer" in response.headers["WWW-Authenticate"]
    assert "API key is required" in response.json()["detail"]


@pytest.mark.parametrize(
    "presented",
    ["nonsense", "qk_000000000000_" + "A" * 43, "x" * 5000, "qk_zz_zz", " "],
)
def test_invalid_keys_are_401(client: TestClient, presented: str) -> None:
    response = client.get("/v1/signals/latest", headers={"X-API-Key": presented})
    assert response.status_code == 401
    assert "not valid" in response.json()["detail"]


def test_a_key_with_one_wrong_character_is_refused(
    client: TestClient, keys: dict[str, str]
) -> None:
    key = keys["reader"]
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert client.get("/v1/signals/latest", headers={"X-API-Key": wrong}).status_code == 401
    assert client.get("/v1/signals/latest", headers={"X-API-Key": key}).status_code == 200


def test_bearer_token_works_like_the_header(client: TestClient, keys: dict[str, str]) -> None:
    auth = {"Authorization": f"Bearer {keys['reader']}"}
    assert client.get("/v1/signals/latest", headers=auth).status_code == 200


def test_revoked_key_is_refused(client: TestClient, engine: Engine, keys: dict[str, str]) -> None:
    key_id = keys["reader"].split("_")[1]
    assert revoke_key(engine, key_id)
    assert not revoke_key(engine, key_id)  # already revoked
    response = client.get("/v1/signals/latest", headers={"X-API-Key": keys["reader"]})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("POST", "/v1/reviews/sig-x/decision", "reader"),
        ("GET", "/v1/audit", "reader"),
        ("GET", "/v1/audit/verify", "reviewer"),
    ],
)
def test_wrong_scope_is_403(
    client: TestClient,
    headers: Callable[[str], dict[str, str]],
    method: str,
    path: str,
    role: str,
) -> None:
    body = {"decision": "approve", "comment": "ok"} if method == "POST" else None
    response = client.request(method, path, headers=headers(role), json=body)
    assert response.status_code == 403
    assert "lacks the" in response.json()["detail"]


@pytest.mark.parametrize("path", [*READ_ROUTES, "/v1/audit", "/v1/audit/verify"])
def test_admin_reaches_every_route(
    client: TestClient, headers: Callable[[str], dict[str, str]], path: str
) -> None:
    assert client.get(path, headers=headers("admin")).status_code == 200


def test_rate_limit_per_key_with_retry_after(
    make_client: Callable[..., TestClient], headers: Callable[[str], dict[str, str]], clock
) -> None:
    client = make_client(rate_capacity=3, rate_per_second=0.25)
    reader, admin = headers("reader"), headers("admin")
    codes = [client.get("/v1/runs", headers=reader).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = client.get("/v1/runs", headers=reader)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "4"  # one token every 4 s, the bucket is empty
    assert "rate limit" in refused.json()["detail"]
    assert client.get("/v1/runs", headers=admin).status_code == 200  # its own bucket
    clock.advance(3.9)
    assert client.get("/v1/runs", headers=reader).status_code == 429
    clock.advance(0.1)
    assert client.get("/v1/runs", headers=reader).status_code == 200
    metrics = client.get("/metrics", headers=admin).text
    assert 'quorum_api_refused_requests_total{reason="rate_limited"} 3.0' in metrics


def test_keys_are_stored_hashed_and_listed_without_secrets(engine: Engine) -> None:
    created = create_key(engine, "ci bot", [Scope.SIGNALS_READ])
    secret = created.key.split("_", 2)[2]
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(api_keys))]
    stored = " ".join(str(v) for row in rows for v in row.values())
    assert secret not in stored and created.key not in stored
    (row,) = [r for r in rows if r["key_id"] == created.key_id]
    assert len(row["key_hash"]) == 64 and len(row["salt"]) == 32
    listed = [k for k in list_keys(engine) if k.key_id == created.key_id]
    assert listed[0].owner == "ci bot" and listed[0].scopes == ("signals:read",)
    assert authenticate(engine, created.key).owner == "ci bot"


def test_two_keys_of_one_owner_get_different_salts(engine: Engine) -> None:
    a = create_key(engine, "ana", ["review"])
    b = create_key(engine, "ana", ["review"])
    with engine.connect() as conn:
        salts = conn.execute(
            select(api_keys.c.salt).where(api_keys.c.key_id.in_([a.key_id, b.key_id]))
        ).scalars()
        assert len(set(salts)) == 2


@pytest.mark.parametrize(
    ("owner", "scopes", "message"),
    [
        ("", ["review"], "owner ''"),
        ("a\nb", ["review"], "owner 'a\\nb'"),
        ("ana", ["root"], "unknown scope 'root'"),
        ("ana", [], "at least one scope"),
    ],
)
def test_create_key_refuses_bad_input(
    engine: Engine, owner: str, scopes: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("\\", "\\\\")):
        create_key(engine, owner, scopes)


def test_admin_implies_every_scope() -> None:
    assert parse_scopes(["admin"]) == {Scope.ADMIN}
    from api.keys import ApiKey

    admin = ApiKey("k", "ops", frozenset({Scope.ADMIN}))
    reader = ApiKey("k", "app", frozenset({Scope.SIGNALS_READ}))
    assert all(admin.allows(s) for s in Scope)
    assert [reader.allows(s) for s in Scope] == [True, False, False, False, False]


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.integers(1, 20),
    rate=st.floats(0.1, 50),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=60),
)
def test_bucket_never_allows_more_than_capacity_plus_refill(
    capacity: int, rate: float, gaps: list[float]
) -> None:
    now = 0.0
    bucket = TokenBucket(capacity, rate, now)
    allowed = 0
    for gap in gaps:
        now += gap
        verdict = bucket.take(now)
        allowed += verdict.allowed
        if not verdict.allowed:
            # waiting exactly retry_after makes the next request pass
            assert bucket.take(now + verdict.retry_after + 1e-9).allowed
            now += verdict.retry_after + 1e-9
            allowed += 1
    assert allowed <= capacity + rate * now + 1e-6


def test_limiter_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        RateLimiter(0.5, 1.0)
    with pytest.raises(ValueError, match="rate must be > 0"):
        RateLimiter(5, 0.0)
