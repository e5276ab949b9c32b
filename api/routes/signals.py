"""Signal routes: latest per asset, history, one fused signal, the live stream, sources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy.exc import SQLAlchemyError

from api.auth import read_access
from api.context import AppContext, app_context
from api.cursor import Cursor
from api.errors import error_responses
from api.models import FusedSignalDetail, FusedSignalOut, FusedSignalPage, SourceSignalPage
from api.params import NO_CONTROL, CursorToken, Identifier, Name, StoreTime
from api.reads import signals as reads
from api.routes.common import parse_cursor, time_range
from schemas.common import Direction, Timeframe
from schemas.signals import Decision

router = APIRouter(prefix="/v1", tags=["signals"], dependencies=[Depends(read_access)])

MAX_PAGE = 500
STREAM_EVENT = "fused_signal"
RECONNECT_MS = 1000

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Items per page (≤ {MAX_PAGE})")]
Order = Annotated[Literal["asc", "desc"], Query(description="desc: newest first")]
AssetQuery = Annotated[Name | None, Query(description="Exact asset, e.g. BTC-PERP")]
Start = Annotated[StoreTime | None, Query(description="From this time, inclusive (naive = UTC)")]
End = Annotated[
    StoreTime | None,
    Query(description="Until this time, exclusive (naive = UTC); must be after start"),
]
PageCursor = Annotated[
    CursorToken | None,
    Query(
        description="Opaque token: the next_cursor the API returned with the previous page "
        "(clients do not build cursors; anything else is a 422)"
    ),
]
Decisions = Annotated[
    list[Decision] | None, Query(description="Decision bands (repeat the parameter for several)")
]
OriginQuery = Annotated[
    Name | None, Query(description="Fused signals with a contribution from this generator")
]
TimeframeQuery = Annotated[
    Timeframe | None, Query(description="Fused signals with a contribution on this timeframe")
]


@router.get(
    "/signals/latest",
    response_model=list[FusedSignalOut],
    responses=error_responses(),
    summary="The newest fused signal of every asset",
)
def latest_signals(
    ctx: Annotated[AppContext, Depends(app_context)], decision: Decisions = None
) -> list[FusedSignalOut]:
    with ctx.engine.connect() as conn:
        return reads.latest_fused(conn, tuple(decision or ()))


@router.get(
    "/signals",
    response_model=FusedSignalPage,
    responses=error_responses(),
    summary="History of fused signals, filtered and paged",
)
def signal_history(
    ctx: Annotated[AppContext, Depends(app_context)],
    asset: AssetQuery = None,
    decision: Decisions = None,
    origin: OriginQuery = None,
    timeframe: TimeframeQuery = None,
    start: Start = None,
    end: End = None,
    limit: Limit = 100,
    cursor: PageCursor = None,
    order: Order = "desc",
) -> FusedSignalPage:
    start_ns, end_ns = time_range(start, end)
    flt = reads.FusedFilter(asset, tuple(decision or ()), origin, timeframe, start_ns, end_ns)
    after = parse_cursor(cursor, "query", "cursor")
    with ctx.engine.connect() as conn:
        return reads.fused_page(conn, flt, limit=limit, after=after, descending=order == "desc")


def _resume_position(
    after: Annotated[
        CursorToken | None,
        Query(description="Resume after this event id: an opaque token the API issued"),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=512,
            pattern=NO_CONTROL,
            description="Sent by EventSource on reconnect; wins over ?after=",
        ),
    ] = None,
) -> Cursor | None:
    if last_event_id:
        return parse_cursor(last_event_id, "header", "Last-Event-ID")
    return parse_cursor(after, "query", "after")


@router.get(
    "/signals/stream",
    response_class=EventSourceResponse,
    responses=error_responses(by_reference=True),
    summary="Live fused signals as Server-Sent Events, resumable",
    description=(
        "Each event is `event: fused_signal`, `id: <cursor>`, `data: <FusedSignalOut JSON>`. "
        "Without a position the stream starts after the newest stored signal; with "
        "`Last-Event-ID` (or `?after=`) it first replays everything after that id, in "
        "(event time, id) order. The server closes a stream after a while and on "
        "`max_events`; EventSource reconnects by itself and resumes."
    ),
)
async def stream_signals(
    request: Request,
    ctx: Annotated[AppContext, Depends(app_context)],
    resume: Annotated[Cursor | None, Depends(_resume_position)],
    asset: AssetQuery = None,
    decision: Decisions = None,
    origin: OriginQuery = None,
    timeframe: TimeframeQuery = None,
    max_events: Annotated[
        int | None, Query(ge=1, le=100_000, description="Close after this many events")
    ] = None,
) -> AsyncIterator[FusedSignalOut]:
    settings = ctx.settings
    flt = reads.FusedFilter(asset, tuple(decision or ()), origin, timeframe)
    deadline = settings.monotonic() + settings.stream_max_seconds

    def start() -> Cursor:
        with ctx.engine.connect() as conn:
            return reads.stream_start(conn)

    def fetch(position: Cursor) -> reads.StreamBatch:
        with ctx.engine.connect() as conn:
            return reads.fused_after(conn, flt, position, limit=settings.stream_batch)

    sent = 0
    try:
        position = resume if resume is not None else await anyio.to_thread.run_sync(start)
        yield ServerSentEvent(retry=RECONNECT_MS, comment="quorum fused signals")
        while True:
            batch = await anyio.to_thread.run_sync(fetch, position)
            position = batch.position
            for item in batch.items:
                yield ServerSentEvent(data=item, id=item.cursor, event=STREAM_EVENT)
                sent += 1
                if max_events is not None and sent >= max_events:
                    return
            if batch.caught_up:  # nothing more stored yet: wait for the flow
                if settings.monotonic() >= deadline or await request.is_disconnected():
                    return
                await anyio.sleep(settings.stream_poll_seconds)
    except SQLAlchemyError:
        # The store went away mid-stream: end it; the client reconnects and resumes.
        return


@router.get(
    "/signals/{fused_id}",
    response_model=FusedSignalDetail,
    responses=error_responses(404),
    summary="One fused signal with its contributions, source signals and review",
)
def signal_detail(
    ctx: Annotated[AppContext, Depends(app_context)],
    fused_id: Annotated[Identifier, Path(description="The fused signal's id")],
) -> FusedSignalDetail:
    with ctx.engine.connect() as conn:
        detail = reads.fused_detail(conn, fused_id)
    if detail is None:
        raise HTTPException(404, f"no fused signal {fused_id!r}")
    return detail


@router.get(
    "/source-signals",
    response_model=SourceSignalPage,
    responses=error_responses(),
    summary="History of the generators' own signals (before fusion)",
)
def source_signals(
    ctx: Annotated[AppContext, Depends(app_context)],
    asset: AssetQuery = None,
    origin: Annotated[Name | None, Query(description="Generator, e.g. rules:rsi_reversal")] = None,
    timeframe: Annotated[Timeframe | None, Query()] = None,
    direction: Annotated[list[Direction] | None, Query()] = None,
    start: Start = None,
    end: End = None,
    limit: Limit = 100,
    cursor: PageCursor = None,
    order: Order = "desc",
) -> SourceSignalPage:
    start_ns, end_ns = time_range(start, end)
    flt = reads.SourceFilter(asset, origin, timeframe, tuple(direction or ()), start_ns, end_ns)
    after = parse_cursor(cursor, "query", "cursor")
    with ctx.engine.connect() as conn:
        return reads.source_page(conn, flt, limit=limit, after=after, descending=order == "desc")
