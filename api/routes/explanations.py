"""Explanation route: why a fused decision came out as it did, in words.

Served from the store when the explanation job (``quorum run`` for REVIEW decisions,
``quorum explain`` for any) already wrote one — by the configured language model or the
template. Any other fused signal is explained on request by the deterministic template (or by
the explainer an embedding application set on ``app.state.explainer``) and stored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from api.auth import read_access
from api.context import AppContext, app_context
from api.errors import error_responses
from api.params import Identifier
from connectors.store.llm import LlmStore
from flows.explain import explain_one
from operators.explain.explainer import Explainer
from schemas.explain import Explanation

router = APIRouter(prefix="/v1", tags=["signals"], dependencies=[Depends(read_access)])


@router.get(
    "/signals/{fused_id}/explanation",
    response_model=Explanation,
    responses=error_responses(404),
    summary="Why a fused signal decided what it did: contributions, veto, guards, candles",
)
def signal_explanation(
    request: Request,
    ctx: Annotated[AppContext, Depends(app_context)],
    fused_id: Annotated[Identifier, Path(description="The fused signal's id")],
    refresh: Annotated[
        bool, Query(description="Explain again from the current facts (e.g. after a review)")
    ] = False,
) -> Explanation:
    if not refresh:
        stored = LlmStore(ctx.engine).explanation(fused_id)
        if stored is not None:
            return stored
    explainer = getattr(request.app.state, "explainer", None) or Explainer()
    explanation = explain_one(ctx.engine, explainer, fused_id)
    if explanation is None:
        raise HTTPException(404, f"no fused signal {fused_id!r}")
    return explanation
