"""The routes' audited write: the key's identity and the time stamped in; lost race → 503."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import HTTPException

from api.routes.common import audited_write
from connectors.store.audit import AuditConflictError

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CTX: Any = SimpleNamespace(engine="the-engine", settings=SimpleNamespace(now=lambda: NOW))
KEY: Any = SimpleNamespace(owner="alice", key_id="k1")


def test_the_write_gets_engine_arguments_and_the_keys_identity() -> None:
    def write(engine: str, asset: str, **kwargs: Any) -> tuple[str, str, dict[str, Any]]:
        return engine, asset, kwargs

    result = audited_write(write, CTX, KEY, "BTC", reason="why", portfolio="p")

    assert result == (
        "the-engine",
        "BTC",
        {"actor": "alice", "via": "api:k1", "now": NOW, "reason": "why", "portfolio": "p"},
    )


def test_a_lost_audit_race_is_a_503_to_retry() -> None:
    def write(engine: str, **kwargs: Any) -> None:
        raise AuditConflictError("seq 7 is taken")

    with pytest.raises(HTTPException) as caught:
        audited_write(write, CTX, KEY, reason="why")

    assert caught.value.status_code == 503
    assert caught.value.detail == "seq 7 is taken"
    assert caught.value.headers == {"Retry-After": "1"}
    assert caught.value.__suppress_context__
