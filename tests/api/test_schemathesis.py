"""Schemathesis against the OpenAPI schema: generated requests never get a server error.

Each operation of the schema is exercised with an admin key (so requests get past auth into
the routes) over a copy of the replayed store. Beyond "no 5xx", every answer must be
documented: its status code listed and its body matching the response schema. The run is
bounded (a few derandomized examples per operation, no shrinking). Afterwards the store still
holds what it held and its audit chain verifies.
"""

from __future__ import annotations

from datetime import datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.engine import Engine

from api.app import create_app
from api.keys import create_key
from api.settings import ApiSettings
from connectors.store.audit import verify_store
from connectors.store.engine import open_store
from connectors.store.market import row_counts

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
OPERATIONS = sorted(
    (method.upper(), path)
    for path, methods in create_app(engine=open_store("sqlite://")).openapi()["paths"].items()
    for method in methods
)


def test_the_schema_documents_every_route() -> None:
    paths = {path for _, path in OPERATIONS}
    assert {
        "/v1/signals",
        "/v1/signals/latest",
        "/v1/signals/stream",
        "/v1/signals/{fused_id}",
        "/v1/signals/{fused_id}/explanation",
        "/v1/reviews/{fused_id}/decision",
        "/v1/audit/verify",
        "/v1/trading/state",
        "/v1/health",
        "/metrics",
    } <= paths
    assert len(OPERATIONS) == 31  # 17 + 8 billing + 1 explanation + 5 control room routes


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_request_gets_a_server_error(
    engine: Engine, clock, now: datetime, method: str, path: str
) -> None:
    key = create_key(engine, "fuzzer", ["admin"]).key
    app_settings = ApiSettings(
        monotonic=clock,
        now=lambda: now,
        rate_capacity=1e9,
        rate_per_second=1e9,
        stream_max_seconds=0.0,  # a stream ends at its first poll that finds nothing new
    )
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", create_app(app_settings, engine=engine)
    )
    operation = schema[path][method]
    before = row_counts(engine)
    calls: list[int] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=15,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case) -> None:
        if path == "/v1/signals/stream":
            case.query = {**(case.query or {}), "max_events": 3}  # bounded even from the start
        response = case.call(headers={"X-API-Key": key})
        calls.append(response.status_code)
        case.validate_response(response, checks=CHECKS)

    exercise()
    assert calls, "schemathesis generated no request"
    assert row_counts(engine) == before
    assert verify_store(engine).ok
