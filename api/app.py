"""The FastAPI application: :func:`create_app` wires the store, auth, routes and metrics.

>>> import tempfile
>>> from fastapi.testclient import TestClient
>>> from connectors.store.engine import open_store
>>> from api.keys import create_key
>>> engine = open_store(tempfile.mkdtemp() + "/store.sqlite")
>>> key = create_key(engine, "ana", ["signals:read"]).key
>>> client = TestClient(create_app(engine=engine))
>>> client.get("/v1/signals/latest").status_code
401
>>> client.get("/v1/signals/latest", headers={"X-API-Key": key}).json()
[]
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.engine import Engine

from api.auth import API_KEY_HEADER
from api.context import AppContext
from api.errors import install_handlers
from api.keys import api_keys
from api.metrics import Metrics
from api.middleware import LatencyMiddleware
from api.ratelimit import RateLimiter, SharedRateLimiter
from api.routes import audit, billing, controls, explanations, ops, reviews, signals, trading
from api.settings import ApiSettings
from connectors.store.engine import open_store

DESCRIPTION = """\
Fused trading signals, the review queue, the paper portfolio and the audit log of a Quorum
store, for downstream applications.

**Auth**: every route needs an API key (`X-API-Key: <key>` or `Authorization: Bearer <key>`),
made with `quorum serve --create-key NAME --scopes ...`. Scopes: `signals:read` (signals,
review list, portfolio, health, metrics), `review` (approve/reject), `admin` (audit; all
scopes). Each key is rate-limited (token bucket; 429 with `Retry-After`); a billing customer's
keys also share their plan's requests per minute on the entitled feed, and only as many keys
as the plan's seats work.

**Paging**: lists return `next_cursor`; pass it back as `?cursor=` until it is null.
**Live**: `GET /v1/signals/stream` is a Server-Sent Events stream resumable with
`Last-Event-ID`.
"""


def _version() -> str:
    try:
        return version("quorum")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def create_app(settings: ApiSettings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """The API over ``settings.store`` (or over ``engine`` when given, e.g. in tests)."""
    settings = settings or ApiSettings()
    engine = engine if engine is not None else open_store(settings.store)
    api_keys.create(engine, checkfirst=True)
    metrics = Metrics(engine, now=settings.now)
    app = FastAPI(
        title="Quorum signal API",
        version=_version(),
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "signals", "description": "Fused decisions and the generators' signals"},
            {"name": "reviews", "description": "REVIEW-band signals waiting for a person"},
            {"name": "portfolio", "description": "Runs, positions, orders, fills, equity"},
            {"name": "trading control", "description": "The kill switch (trading:control)"},
            {"name": "audit", "description": "The hash-chained audit log (admin)"},
            {"name": "operations", "description": "Health and Prometheus metrics"},
            {"name": "billing", "description": "Plans, usage, invoices and the entitled feed"},
        ],
    )
    app.state.quorum = AppContext(
        engine=engine,
        settings=settings,
        limiter=_limiter(settings),
        metrics=metrics,
    )
    install_handlers(app)
    # customer keys get signals only through the entitled billing feed
    app.include_router(signals.router, dependencies=[Depends(billing.not_a_customer)])
    for module in (explanations, reviews, trading, controls, audit, ops, billing):
        app.include_router(module.router)
    app.add_middleware(LatencyMiddleware, metrics=metrics.requests)
    if settings.cors_origins:  # off unless origins are listed: no browser may call by default
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID", API_KEY_HEADER],
        )
    return app


def _limiter(settings: ApiSettings) -> RateLimiter | SharedRateLimiter:
    if settings.rate_limit_storage is None:
        return RateLimiter(settings.rate_capacity, settings.rate_per_second, settings.monotonic)
    return SharedRateLimiter(
        settings.rate_limit_storage, settings.rate_capacity, settings.rate_per_second
    )
