"""What every request needs from its app: the store, settings, rate limiter and metrics."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.engine import Engine

from api.metrics import Metrics
from api.ratelimit import RateLimiter, SharedRateLimiter
from api.settings import ApiSettings


@dataclass(frozen=True)
class AppContext:
    engine: Engine
    settings: ApiSettings
    limiter: RateLimiter | SharedRateLimiter
    metrics: Metrics


def app_context(request: Request) -> AppContext:
    """FastAPI dependency: the context stored on the app by :func:`api.app.create_app`."""
    return request.app.state.quorum
