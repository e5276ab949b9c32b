"""Portfolio routes: runs, positions, orders, fills and the equity curve (exact Decimals)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import read_access
from api.context import AppContext, app_context
from api.errors import error_responses
from api.models import EquityList, FillList, OrderList, PositionList, RunList
from api.params import Identifier, Name, StoreTime
from api.reads import trading as reads
from api.routes.common import time_range
from schemas.trading import OrderStatus

router = APIRouter(prefix="/v1", tags=["portfolio"], dependencies=[Depends(read_access)])

RunQuery = Annotated[
    Identifier | None,
    Query(description="Which run; default: the most recent run with rows of this kind"),
]
PortfolioQuery = Annotated[
    Identifier | None,
    Query(description="Which portfolio (id from the run's configuration); default: every one"),
]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


@router.get("/runs", response_model=RunList, responses=error_responses(), summary="Recent runs")
def list_runs(ctx: Annotated[AppContext, Depends(app_context)], limit: Limit = 50) -> RunList:
    with ctx.engine.connect() as conn:
        return RunList(items=reads.recent_runs(conn, limit))


@router.get(
    "/positions",
    response_model=PositionList,
    responses=error_responses(),
    summary="Current position per asset (latest snapshot of the run)",
)
def positions(
    ctx: Annotated[AppContext, Depends(app_context)],
    run_id: RunQuery = None,
    include_flat: Annotated[bool, Query(description="Also assets back to flat")] = False,
    portfolio: PortfolioQuery = None,
) -> PositionList:
    with ctx.engine.connect() as conn:
        run, items = reads.current_positions(
            conn, run_id, include_flat=include_flat, portfolio=portfolio
        )
    return PositionList(run_id=run, items=items)


@router.get(
    "/orders", response_model=OrderList, responses=error_responses(), summary="Orders of a run"
)
def orders(
    ctx: Annotated[AppContext, Depends(app_context)],
    run_id: RunQuery = None,
    asset: Annotated[Name | None, Query()] = None,
    status: Annotated[OrderStatus | None, Query()] = None,
    portfolio: PortfolioQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> OrderList:
    with ctx.engine.connect() as conn:
        run, total, items = reads.orders_page(
            conn,
            run_id,
            asset=asset,
            status=None if status is None else status.value,
            portfolio=portfolio,
            limit=limit,
            offset=offset,
        )
    return OrderList(run_id=run, total=total, items=items)


@router.get(
    "/fills", response_model=FillList, responses=error_responses(), summary="Fills of a run"
)
def fills(
    ctx: Annotated[AppContext, Depends(app_context)],
    run_id: RunQuery = None,
    asset: Annotated[Name | None, Query()] = None,
    portfolio: PortfolioQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> FillList:
    with ctx.engine.connect() as conn:
        run, total, items = reads.fills_page(
            conn, run_id, asset=asset, portfolio=portfolio, limit=limit, offset=offset
        )
    return FillList(run_id=run, total=total, items=items)


@router.get(
    "/equity",
    response_model=EquityList,
    responses=error_responses(),
    summary="Equity curve of a run",
)
def equity(
    ctx: Annotated[AppContext, Depends(app_context)],
    run_id: RunQuery = None,
    start: Annotated[
        StoreTime | None, Query(description="From this time, inclusive (naive = UTC)")
    ] = None,
    end: Annotated[
        StoreTime | None,
        Query(description="Until this time, exclusive (naive = UTC); must be after start"),
    ] = None,
    portfolio: PortfolioQuery = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> EquityList:
    start_ns, end_ns = time_range(start, end)
    with ctx.engine.connect() as conn:
        run, items = reads.equity_curve(
            conn, run_id, start_ns=start_ns, end_ns=end_ns, portfolio=portfolio, limit=limit
        )
    return EquityList(run_id=run, items=items)
