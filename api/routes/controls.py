"""Trading control routes: the kill switch and closing a position by hand (scope
``trading:control``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.auth import control_access
from api.context import AppContext, app_context
from api.controls import close_position, set_trading_state
from api.errors import error_responses
from api.keys import ApiKey
from api.models import ClosePositionIn, TradingControlIn, TradingControlOut
from api.routes.common import audited_write

router = APIRouter(prefix="/v1/trading", tags=["trading control"])


@router.post(
    "/state",
    response_model=TradingControlOut,
    responses=error_responses(),
    summary="Halt, reduce or resume trading; audited with who and why",
    description=(
        "The actor is the key's owner, the time is now. Running flows on this store pick the "
        "command up at their next poll of the audit log and apply it in that batch: halt "
        "cancels working orders and refuses new entries."
    ),
)
def control_trading(
    ctx: Annotated[AppContext, Depends(app_context)],
    key: Annotated[ApiKey, Depends(control_access)],
    body: TradingControlIn,
) -> TradingControlOut:
    outcome = audited_write(set_trading_state, ctx, key, body.command, reason=body.reason)
    return TradingControlOut(action=outcome.action, audit=outcome.audit)


@router.post(
    "/close",
    response_model=TradingControlOut,
    responses=error_responses(),
    summary="Close a position by hand; audited with who and why",
    description=(
        "Running flows on this store pick it up at their next poll and send a reduce-only "
        "order for the whole position through the risk guards and the router at once (a "
        "halted flow refuses it like any order). The outcome is audited as a manual action."
    ),
)
def close_by_hand(
    ctx: Annotated[AppContext, Depends(app_context)],
    key: Annotated[ApiKey, Depends(control_access)],
    body: ClosePositionIn,
) -> TradingControlOut:
    outcome = audited_write(
        close_position, ctx, key, body.asset, portfolio=body.portfolio, reason=body.reason
    )
    return TradingControlOut(action=outcome.action, audit=outcome.audit)
