"""Billing routes: plans and prices, the caller's subscription, usage, invoices, statements,
the entitled signal feed (list and Server-Sent Events) and Stripe's webhook endpoint.

A customer is the owner of an API key (``billing_customers.customer_id`` = key owner). The feed
routes deliver only what the plan in force allows (:mod:`operators.billing.entitlements`):
assets, decision bands, timeframes and sources, the delivery delay, and the channel (``api``
for the list, ``sse`` for the stream). Customer keys are refused on the unrestricted signal
routes (:func:`not_a_customer`), which remain for the desk's own keys.

The plan's limits hold on both channels (:func:`customer_plan`): a key beyond the plan's
``seats`` (the customer's oldest active keys keep working) is refused with 403, and every
request of the customer's keys together counts against the plan's ``rate_limit_per_minute``
(the ``limits``-based :class:`~api.ratelimit.SharedRateLimiter`, keyed by customer, in the
API's shared rate-limit storage when one is set) — 429 with ``Retry-After`` beyond it. An SSE
stream counts once, when it opens. Each key's own limit applies first, as on every route.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from api.auth import admin_access, read_access
from api.context import AppContext, app_context
from api.cursor import Cursor
from api.errors import error_responses
from api.keys import ApiKey
from api.models import ErrorResponse, FusedSignalOut
from api.ratelimit import SharedRateLimiter
from api.reads import signals as reads
from api.seats import seat_of
from connectors.store.billing import (
    billing_customers,
    billing_invoices,
    billing_statements,
    load_stored_catalogue,
    read_subscriptions,
    read_usage,
)
from operators.billing.catalogue import Catalogue, Plan
from operators.billing.close import month_bounds
from operators.billing.entitlements import Denial, check_delivery, current_plan, visible
from schemas.billing import Channel, Invoice, Subscription, UsageEvent

router = APIRouter(prefix="/v1/billing", tags=["billing"])
_LIMITERS_LOCK = threading.Lock()

MonthQuery = Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class SubscriptionOut(_Out):
    customer_id: str
    subscription: Subscription | None
    plan_in_force: Plan | None = Field(
        description="Entitlements that apply now (reduced when past due)"
    )


class UsageOut(_Out):
    customer_id: str
    month: str | None
    items: list[UsageEvent]
    uninvoiced_minor: int = Field(description="Priced deliveries not yet on an invoice")
    currency: str


class FeedOut(_Out):
    plan_id: str
    price_per_signal_minor: int = Field(description="What each delivered signal costs")
    items: list[FusedSignalOut]


def _catalogue(conn: Connection) -> Catalogue:
    catalogue = load_stored_catalogue(conn)
    if catalogue is None:
        raise HTTPException(404, "billing is not set up on this store (no catalogue stored)")
    return catalogue


def _is_customer(conn: Connection, owner: str) -> bool:
    stmt = select(billing_customers.c.customer_id).where(billing_customers.c.customer_id == owner)
    return conn.execute(stmt).first() is not None


def not_a_customer(
    ctx: Annotated[AppContext, Depends(app_context)], key: Annotated[ApiKey, Depends(read_access)]
) -> None:
    """Customer keys receive signals only through the entitled feed."""
    with ctx.engine.connect() as conn:
        customer = _is_customer(conn, key.owner)
    if customer:
        raise HTTPException(
            403, f"key owner {key.owner!r} is a billing customer: use /v1/billing/feed"
        )


def _plan_limiter(request: Request, ctx: AppContext, plan: Plan) -> SharedRateLimiter:
    """The rate limiter of ``plan`` (one per plan and limit, made on first use)."""
    per_minute = plan.entitlements.rate_limit_per_minute
    with _LIMITERS_LOCK:
        limiters: dict[tuple[str, int], SharedRateLimiter] | None = getattr(
            request.app.state, "billing_plan_limiters", None
        )
        if limiters is None:
            limiters = request.app.state.billing_plan_limiters = {}
        found = limiters.get((plan.plan_id, per_minute))
        if found is None:
            found = limiters[(plan.plan_id, per_minute)] = SharedRateLimiter(
                ctx.settings.rate_limit_storage or "memory://",
                capacity=per_minute,
                rate=per_minute / 60,
                namespace=f"quorum-plan-{plan.plan_id}-{per_minute}",
            )
    return found


def customer_plan(
    request: Request,
    ctx: Annotated[AppContext, Depends(app_context)],
    key: Annotated[ApiKey, Depends(read_access)],
) -> Plan:
    """The caller's plan in force, once its seat and its plan's rate limit allow the request."""
    with ctx.engine.connect() as conn:
        catalogue = _catalogue(conn)
        if not _is_customer(conn, key.owner):
            raise HTTPException(404, f"{key.owner!r} is not a billing customer")
        _, plan = current_plan(catalogue, read_subscriptions(conn, key.owner), ctx.settings.now())
        seat = seat_of(conn, key.owner, key.key_id)
    if plan is None:
        raise HTTPException(403, f"{key.owner!r} has no subscription in force")
    seats = plan.entitlements.seats
    if seat >= seats:
        raise HTTPException(
            403,
            f"key {key.key_id} is beyond the {seats} seat(s) of plan {plan.plan_id!r}: "
            f"{key.owner!r} holds more active keys than the plan allows; revoke the extra ones",
        )
    verdict = _plan_limiter(request, ctx, plan).acquire(key.owner)
    if not verdict.allowed:
        ctx.metrics.requests.refused.labels("rate_limited").inc()
        raise HTTPException(
            429,
            f"rate limit of plan {plan.plan_id!r} exceeded for customer {key.owner!r}: "
            f"{plan.entitlements.rate_limit_per_minute} requests per minute, all its keys "
            "together",
            headers={"Retry-After": verdict.retry_after_header},
        )
    return plan


@router.get(
    "/plans",
    response_model=list[Plan],
    responses=error_responses(404),
    summary="Plans with entitlements and prices (per period and per signal)",
)
def plans(
    ctx: Annotated[AppContext, Depends(app_context)],
    _key: Annotated[ApiKey, Depends(read_access)],
) -> list[Plan]:
    with ctx.engine.connect() as conn:
        return list(_catalogue(conn).plans)


@router.get(
    "/subscription",
    response_model=SubscriptionOut,
    responses=error_responses(404),
    summary="The caller's subscription and the plan in force now",
)
def subscription(
    ctx: Annotated[AppContext, Depends(app_context)],
    key: Annotated[ApiKey, Depends(read_access)],
) -> SubscriptionOut:
    with ctx.engine.connect() as conn:
        catalogue = _catalogue(conn)
        sub, plan = current_plan(catalogue, read_subscriptions(conn, key.owner), ctx.settings.now())
    return SubscriptionOut(customer_id=key.owner, subscription=sub, plan_in_force=plan)


@router.get(
    "/usage",
    response_model=UsageOut,
    responses=error_responses(404),
    summary="The caller's metered deliveries with their prices, before they are invoiced",
)
def usage(
    ctx: Annotated[AppContext, Depends(app_context)],
    key: Annotated[ApiKey, Depends(read_access)],
    month: MonthQuery = None,
) -> UsageOut:
    start, end = month_bounds(month) if month else (None, None)
    with ctx.engine.connect() as conn:
        catalogue = _catalogue(conn)
        items = read_usage(conn, customer_id=key.owner, start=start, end=end)
        invoiced = {
            row.month
            for row in conn.execute(
                select(billing_invoices.c.month).where(billing_invoices.c.customer_id == key.owner)
            )
        }
    pending = sum(u.price_minor for u in items if u.delivered_at.strftime("%Y-%m") not in invoiced)
    return UsageOut(
        customer_id=key.owner,
        month=month,
        items=items,
        uninvoiced_minor=pending,
        currency=catalogue.currency,
    )


@router.get(
    "/invoices",
    response_model=list[Invoice],
    responses=error_responses(404),
    summary="The caller's invoices (fees paid: subscription, usage, performance)",
)
def invoices(
    ctx: Annotated[AppContext, Depends(app_context)],
    key: Annotated[ApiKey, Depends(read_access)],
) -> list[Invoice]:
    stmt = (
        select(billing_invoices)
        .where(billing_invoices.c.customer_id == key.owner)
        .order_by(billing_invoices.c.month)
    )
    with ctx.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        Invoice(
            invoice_id=r.invoice_id,
            customer_id=r.customer_id,
            month=r.month,
            currency=r.currency,
            lines=tuple(r.lines),
        )
        for r in rows
    ]


@router.get(
    "/statements",
    response_model=list[dict[str, Any]],
    responses=error_responses(404),
    summary="Author statements of a month (admin)",
)
def statements(
    ctx: Annotated[AppContext, Depends(app_context)],
    _key: Annotated[ApiKey, Depends(admin_access)],
    month: MonthQuery = None,
) -> list[dict[str, Any]]:
    stmt = select(billing_statements).order_by(
        billing_statements.c.month, billing_statements.c.author
    )
    if month:
        stmt = stmt.where(billing_statements.c.month == month)
    with ctx.engine.connect() as conn:
        return [dict(row.statement) for row in conn.execute(stmt)]


def _entitled(plan: Plan, items: list[FusedSignalOut], channel: Channel, now: datetime):
    for item in items:
        denial = check_delivery(plan.entitlements, item, channel, now)
        yield item, denial


@router.get(
    "/feed",
    response_model=FeedOut,
    responses=error_responses(404),
    summary="The newest fused signals the caller's plan delivers (API channel)",
)
def feed(
    ctx: Annotated[AppContext, Depends(app_context)],
    plan: Annotated[Plan, Depends(customer_plan)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> FeedOut:
    if Channel.API not in plan.entitlements.channels:
        raise HTTPException(403, f"plan {plan.plan_id!r} has no API channel")
    now = ctx.settings.now()
    flt = reads.FusedFilter(decisions=tuple(plan.entitlements.decisions))
    shown: list[FusedSignalOut] = []
    after = None
    with ctx.engine.connect() as conn:
        while len(shown) < limit:
            page = reads.fused_page(conn, flt, limit=500, after=after, descending=True)
            for item, denial in _entitled(plan, page.items, Channel.API, now):
                if denial is None and len(shown) < limit:
                    shown.append(visible(plan.entitlements, item))
            if page.next_cursor is None:
                break
            after = Cursor.decode(page.next_cursor)
    return FeedOut(
        plan_id=plan.plan_id, price_per_signal_minor=plan.price_per_signal_minor, items=shown
    )


def _sse_plan(plan: Annotated[Plan, Depends(customer_plan)]) -> Plan:
    """The caller's plan, when it includes the SSE channel (checked before the stream opens)."""
    if Channel.SSE not in plan.entitlements.channels:
        raise HTTPException(403, f"plan {plan.plan_id!r} has no SSE channel")
    return plan


@router.get(
    "/feed/stream",
    response_class=EventSourceResponse,
    responses=error_responses(404, by_reference=True),
    summary="Entitled fused signals as Server-Sent Events (SSE channel), resumable",
)
async def feed_stream(
    request: Request,
    ctx: Annotated[AppContext, Depends(app_context)],
    plan: Annotated[Plan, Depends(_sse_plan)],
    after: Annotated[str | None, Query(max_length=512, description="Resume after this id")] = None,
    max_events: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> AsyncIterator[FusedSignalOut]:
    settings = ctx.settings
    deadline = settings.monotonic() + settings.stream_max_seconds
    flt = reads.FusedFilter(decisions=tuple(plan.entitlements.decisions))

    def fetch(position: Cursor) -> reads.StreamBatch:
        with ctx.engine.connect() as conn:
            return reads.fused_after(conn, flt, position, limit=settings.stream_batch)

    position = Cursor.decode(after) if after else Cursor(0, "")
    sent = 0
    try:
        yield ServerSentEvent(retry=1000, comment=f"quorum entitled feed, plan {plan.plan_id}")
        while True:
            batch = await anyio.to_thread.run_sync(fetch, position)
            waiting = False
            for item, denial in _entitled(plan, batch.items, Channel.SSE, settings.now()):
                if denial is Denial.TOO_EARLY:  # the plan's delay: hold it and what follows
                    waiting = True
                    break
                position = Cursor.decode(item.cursor)
                if denial is None:
                    yield ServerSentEvent(
                        data=visible(plan.entitlements, item), id=item.cursor, event="fused_signal"
                    )
                    sent += 1
                    if max_events is not None and sent >= max_events:
                        return
            if not waiting and not batch.items:
                position = batch.position
            if waiting or batch.caught_up:
                if settings.monotonic() >= deadline or await request.is_disconnected():
                    return
                await anyio.sleep(settings.stream_poll_seconds)
    except SQLAlchemyError:
        return


@router.post(
    "/webhooks/stripe",
    status_code=200,
    responses={
        400: {"model": ErrorResponse, "description": "Signature or payload rejected"},
        404: {"model": ErrorResponse, "description": "Stripe is not configured on this server"},
    },
    summary="Stripe's webhook endpoint (signature-verified, idempotent by event id)",
)
async def stripe_webhook(
    request: Request, ctx: Annotated[AppContext, Depends(app_context)]
) -> Response:
    from connectors.stripe.config import StripeConfig, StripeConfigError
    from connectors.stripe.webhooks import WebhookRejectedError, handle_webhook

    try:
        config = StripeConfig.from_env()
    except StripeConfigError as exc:
        raise HTTPException(404, f"Stripe webhooks are not enabled here: {exc}") from None
    payload = await request.body()
    signature = request.headers.get("Stripe-Signature")
    try:
        result = await anyio.to_thread.run_sync(
            handle_webhook, ctx.engine, payload, signature, config
        )
    except WebhookRejectedError as exc:
        raise HTTPException(400, str(exc)) from None
    return Response(
        content=f'{{"received": true, "outcome": "{result.outcome}"}}',
        media_type="application/json",
    )
