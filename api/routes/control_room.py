"""Control-room routes: the configuration in force, its versions, changes and reverts.

Reading needs ``signals:read``; changing needs ``control`` (a separate scope from the kill
switch's ``trading:control``: raising a limit or lowering a band adds risk, halting never does).
A change is validated against the run's configuration (``ApiSettings.config``) and recorded as
the next version, audited with the key's owner; running flows apply it at their next poll.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import ValidationError

from api.auth import config_access, read_access
from api.context import AppContext, app_context
from api.controls import control_base
from api.errors import error_responses, invalid
from api.keys import ApiKey
from api.models import (
    ControlChangeIn,
    ControlRevertIn,
    ControlStateOut,
    ControlVersionOut,
    ControlVersionsOut,
)
from api.routes.common import audited_write
from connectors.store.control import (
    latest_version,
    read_applied,
    read_versions,
    record_change,
    revert_to,
)
from operators.control.settings import ControlBase, ControlError, settings_for
from schemas.control import ControlChange, ControlOverrides, ControlVersion

router = APIRouter(prefix="/v1/control", tags=["control room"])


def _base(ctx: AppContext) -> ControlBase:
    try:
        return control_base(ctx.settings.config)
    except ValueError as exc:  # the configuration file itself is invalid
        raise HTTPException(503, f"cannot load the run configuration: {exc}") from None


def _out(version: ControlVersion, ctx: AppContext) -> ControlVersionOut:
    applied = read_applied(ctx.engine).get(version.version)
    return ControlVersionOut(**version.model_dump(), applied=applied)


@router.get(
    "",
    response_model=ControlStateOut,
    responses=error_responses(409),
    summary="The configuration in force: version, effective values, sources switched off",
)
def control_state(
    ctx: Annotated[AppContext, Depends(app_context)],
    _key: Annotated[ApiKey, Depends(read_access)],
) -> ControlStateOut:
    base = _base(ctx)
    latest = latest_version(ctx.engine)
    overrides = ControlOverrides() if latest is None else latest.overrides
    try:
        settings = settings_for(base, overrides)
    except ControlError as exc:
        raise HTTPException(409, f"the stored version no longer fits: {exc}") from None
    return ControlStateOut(
        version=0 if latest is None else latest.version,
        fusion=settings.fusion.model_dump(mode="json"),
        risk=settings.risk.model_dump(mode="json"),
        sources=list(base.sources),
        disabled=sorted(settings.disabled),
        overrides=overrides,
        latest=None if latest is None else _out(latest, ctx),
    )


@router.get(
    "/versions",
    response_model=ControlVersionsOut,
    responses=error_responses(),
    summary="Every version: who, why, when, what changed, and what running flows made of it",
)
def control_versions(
    ctx: Annotated[AppContext, Depends(app_context)],
    _key: Annotated[ApiKey, Depends(read_access)],
) -> ControlVersionsOut:
    applied = read_applied(ctx.engine)
    items = [
        ControlVersionOut(**v.model_dump(), applied=applied.get(v.version))
        for v in reversed(read_versions(ctx.engine))
    ]
    return ControlVersionsOut(items=items)


@router.post(
    "",
    response_model=ControlVersionOut,
    responses=error_responses(409),
    summary="Change fusion weights and bands, switch sources, adjust risk limits (new version)",
    description=(
        "Validated against the run's configuration (422 names the field and the value; 409: "
        "it changes nothing); "
        "recorded as the next version with the key's owner, audited; running flows apply it "
        "at their next poll, without a restart. `change_id` makes a retry safe."
    ),
)
def change_control(
    ctx: Annotated[AppContext, Depends(app_context)],
    key: Annotated[ApiKey, Depends(config_access)],
    body: ControlChangeIn,
) -> ControlVersionOut:
    base = _base(ctx)
    try:
        change = ControlChange(
            fusion=body.fusion, risk=body.risk, disable=body.disable, enable=body.enable
        )
        version = audited_write(
            record_change, ctx, key, base, change, reason=body.reason, change_id=body.change_id
        )
    except ValidationError as exc:
        raise invalid("body", "change", "; ".join(e["msg"] for e in exc.errors())) from None
    except ControlError as exc:
        raise _refusal(exc) from None
    return _out(version, ctx)


@router.post(
    "/revert",
    response_model=ControlVersionOut,
    responses=error_responses(409),
    summary="Restore an earlier version's values as a new version (0: the configuration file)",
)
def revert_control(
    ctx: Annotated[AppContext, Depends(app_context)],
    key: Annotated[ApiKey, Depends(config_access)],
    body: ControlRevertIn,
) -> ControlVersionOut:
    try:
        version = audited_write(
            revert_to,
            ctx,
            key,
            _base(ctx),
            body.version,
            reason=body.reason,
            change_id=body.change_id,
        )
    except ControlError as exc:
        raise _refusal(exc) from None
    return _out(version, ctx)


def _refusal(exc: ControlError) -> Exception:
    """A value that does not fit → 422 naming the field; a change that changes nothing → 409."""
    where, sep, what = str(exc).partition(": ")
    if sep and " " not in where:
        return invalid("body", where, what)
    return HTTPException(409, str(exc))
