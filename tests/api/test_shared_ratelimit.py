"""Rate limits shared by API replicas through the `limits` library: in memory for one process,
Redis for several (the local server; skipped when it does not answer)."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import create_key
from api.ratelimit import SharedRateLimiter
from api.settings import ApiSettings
from connectors.store.engine import open_store

REDIS = "redis://127.0.0.1:6379/15"


def redis_or_skip() -> None:
    try:
        SharedRateLimiter(REDIS, capacity=1, rate=1.0)
    except ValueError as exc:
        pytest.skip(f"no Redis at 127.0.0.1:6379 ({exc})")


def test_two_replicas_share_one_budget_in_redis() -> None:
    redis_or_skip()
    namespace = f"quorum-test-{uuid.uuid4().hex}"
    first, second = (SharedRateLimiter(REDIS, 3, 0.01, namespace) for _ in range(2))
    allowed = [first.acquire("k1").allowed, second.acquire("k1").allowed]
    allowed += [first.acquire("k1").allowed, second.acquire("k1").allowed]
    assert allowed == [True, True, True, False]
    refused = first.acquire("k1")
    assert not refused.allowed and refused.retry_after > 0
    assert second.acquire("k2").allowed  # another key, its own budget


def test_the_api_answers_429_from_the_shared_budget(tmp_path) -> None:
    redis_or_skip()
    engine = open_store(tmp_path / "store.sqlite")
    key = create_key(engine, f"app-{uuid.uuid4().hex[:8]}", ["signals:read"]).key
    settings = ApiSettings(rate_limit_storage=REDIS, rate_capacity=2, rate_per_second=0.01)
    replicas = [TestClient(create_app(settings, engine=engine)) for _ in range(2)]
    codes = [
        replicas[i % 2].get("/v1/signals/latest", headers={"X-API-Key": key}).status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]


def test_an_unreachable_storage_stops_start_up() -> None:
    with pytest.raises(ValueError, match=re.escape("rate-limit storage 'redis://127.0.0.1:1/0'")):
        SharedRateLimiter("redis://127.0.0.1:1/0", capacity=1, rate=1.0)
