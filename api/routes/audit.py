"""Audit routes (admin): read the hash-chained log and verify it."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query

from api.auth import admin_access
from api.context import AppContext, app_context
from api.errors import error_responses
from api.models import AuditPage, VerifyOut
from api.params import Name
from api.reads.audit import audit_page
from connectors.audit.config import AuditTrust
from connectors.store.audit import verify_store
from operators.audit.chain import KeyRequiredError

router = APIRouter(prefix="/v1/audit", tags=["audit"], dependencies=[Depends(admin_access)])


@router.get("", response_model=AuditPage, responses=error_responses(), summary="Audit records")
def audit_records(
    ctx: Annotated[AppContext, Depends(app_context)],
    after_seq: Annotated[int, Query(ge=-1, le=2**62, description="Records after this seq")] = -1,
    kind: Annotated[Name | None, Query(description="Only this kind, e.g. review_decision")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    with ctx.engine.connect() as conn:
        return audit_page(conn, after_seq=after_seq, limit=limit, kind=kind)


@router.get(
    "/verify",
    response_model=VerifyOut,
    responses=error_responses(),
    summary="Verify every link of the chain and its head",
)
async def verify(ctx: Annotated[AppContext, Depends(app_context)]) -> VerifyOut:
    trust = AuditTrust.for_engine(ctx.engine)
    try:
        result = await anyio.to_thread.run_sync(verify_store, ctx.engine, trust)
    except KeyRequiredError as exc:  # the API was started without the key the chain needs
        return VerifyOut(
            ok=False, message=str(exc), checked=0, last_seq=None, bad_seq=None, reason=str(exc)
        )
    return VerifyOut(
        ok=result.ok,
        message=result.message,
        checked=result.checked,
        last_seq=result.last_seq,
        bad_seq=result.bad_seq,
        reason=result.reason,
        key_id=result.key_id,
        anchored_seq=result.anchored_seq,
        findings=list(result.findings),
        notes=list(result.notes),
    )
