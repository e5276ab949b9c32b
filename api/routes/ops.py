"""Operations routes: health of the feeds and the store, Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.auth import read_access
from api.context import AppContext, app_context
from api.errors import error_responses
from api.models import HealthOut
from api.reads.ops import store_health

router = APIRouter(tags=["operations"], dependencies=[Depends(read_access)])


@router.get(
    "/v1/health",
    response_model=HealthOut,
    responses=error_responses(),
    summary="Feeds (lag, last candle per symbol), dead letters, late data, runs",
)
def health(ctx: Annotated[AppContext, Depends(app_context)]) -> HealthOut:
    with ctx.engine.connect() as conn:
        return store_health(conn, now=ctx.settings.now(), stale_bars=ctx.settings.stale_bars)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
        **error_responses(by_reference=True),
    },
    summary="Prometheus metrics (text exposition format)",
)
def metrics(ctx: Annotated[AppContext, Depends(app_context)]) -> Response:
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
