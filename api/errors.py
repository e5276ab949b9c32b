"""Error bodies and handlers: every refusal has a documented shape and never leaks a trace.

* 422: :class:`~api.models.ValidationErrorResponse`, naming each offending field
  (``query.limit: Input should be less than or equal to 500``);
* 401/403/404/409/429: :class:`~api.models.ErrorResponse`;
* 503: the store is busy or unreachable (``Retry-After``), never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from api.models import ErrorResponse, FieldError, ValidationErrorResponse

logger = logging.getLogger(__name__)

_DESCRIPTIONS = {
    401: "No API key, or not a valid one",
    403: "The key lacks the scope this operation needs",
    404: "No such record",
    409: "The request conflicts with the record's state",
    422: "The request does not validate; the body names every offending field",
    429: "The key's rate limit is exhausted; retry after Retry-After seconds",
    503: "The store is busy or unreachable; retry after Retry-After seconds",
}


def error_responses(*codes: int, by_reference: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the given error codes (auth errors always included).

    ``by_reference`` documents the JSON bodies by ``$ref`` instead of by model, for routes
    whose own media type is not JSON (FastAPI would file their errors under it).
    """
    wanted = sorted({401, 403, 422, 429, 503, *codes})
    out: dict[int | str, dict[str, Any]] = {}
    for code in wanted:
        model = ValidationErrorResponse if code == 422 else ErrorResponse
        if by_reference:
            schema = {"$ref": f"#/components/schemas/{model.__name__}"}
            content = {"application/json": {"schema": schema}}
            out[code] = {"description": _DESCRIPTIONS[code], "content": content}
        else:
            out[code] = {"model": model, "description": _DESCRIPTIONS[code]}
    return out


def field_errors(errors: Sequence[Any]) -> ValidationErrorResponse:
    """Pydantic/FastAPI error dicts → the documented 422 body.

    >>> body = field_errors([{"loc": ("query", "limit"), "msg": "too big", "type": "x"}])
    >>> body.message
    'query.limit: too big'
    """
    items = [
        FieldError(
            loc=[p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            msg=str(e.get("msg", "invalid")),
            type=str(e.get("type", "value_error")),
        )
        for e in errors
    ]
    message = "; ".join(
        f"{'.'.join(str(p) for p in item.loc) or 'request'}: {item.msg}" for item in items
    )
    return ValidationErrorResponse(message=message or "invalid request", detail=items)


def invalid(location: str, name: str, message: str) -> RequestValidationError:
    """A 422 naming one field, for checks done in code (cursors, time ranges)."""
    return RequestValidationError(
        [{"loc": (location, name), "msg": message, "type": "value_error"}]
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    body = field_errors(exc.errors())
    return JSONResponse(body.model_dump(mode="json"), status_code=422)


async def _on_store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("store unavailable for %s %s: %s", request.method, request.url.path, exc)
    body = ErrorResponse(detail="the store is busy or unreachable; retry shortly")
    return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "1"})


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(OperationalError, _on_store_unavailable)
