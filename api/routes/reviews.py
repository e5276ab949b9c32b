"""Review-queue routes: list REVIEW-band signals; approve or reject one, audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from api.auth import read_access, review_access
from api.context import AppContext, app_context
from api.errors import error_responses
from api.keys import ApiKey
from api.models import ReviewDecisionIn, ReviewDecisionOut, ReviewPage, ReviewStatus
from api.params import CursorToken, Identifier, Name
from api.reads.signals import review_page
from api.reviews import AlreadyDecidedError, ConcurrentWriteError, NotQueuedError, decide
from api.routes.common import parse_cursor

router = APIRouter(prefix="/v1/reviews", tags=["reviews"])


@router.get(
    "",
    response_model=ReviewPage,
    responses=error_responses(),
    summary="Review items, oldest first (pending by default)",
)
def list_reviews(
    ctx: Annotated[AppContext, Depends(app_context)],
    _key: Annotated[ApiKey, Depends(read_access)],
    status: Annotated[ReviewStatus | None, Query(description="Default: pending")] = "pending",
    asset: Annotated[Name | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[
        CursorToken | None,
        Query(description="Opaque token: the next_cursor the API returned with the previous page"),
    ] = None,
) -> ReviewPage:
    after = parse_cursor(cursor, "query", "cursor")
    with ctx.engine.connect() as conn:
        return review_page(conn, status=status, asset=asset, limit=limit, after=after)


@router.post(
    "/{fused_id}/decision",
    response_model=ReviewDecisionOut,
    responses=error_responses(404, 409),
    summary="Approve or reject a pending item; recorded in the audit log",
    description=(
        "The reviewer is the key's owner, the time is now. The queue update and the audit "
        "record are written in one transaction. Decisions are final: a second one is a 409."
    ),
)
def decide_review(
    ctx: Annotated[AppContext, Depends(app_context)],
    key: Annotated[ApiKey, Depends(review_access)],
    fused_id: Annotated[Identifier, Path(description="The fused signal's id")],
    body: ReviewDecisionIn,
) -> ReviewDecisionOut:
    try:
        outcome = decide(
            ctx.engine,
            fused_id,
            body.decision,
            reviewer=key.owner,
            comment=body.comment,
            now=ctx.settings.now(),
            via=f"api:{key.key_id}",
        )
    except NotQueuedError as exc:
        raise HTTPException(404, str(exc)) from None
    except AlreadyDecidedError as exc:
        raise HTTPException(409, str(exc)) from None
    except ConcurrentWriteError as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from None
    return ReviewDecisionOut(review=outcome.review, audit=outcome.audit, action=outcome.action)
