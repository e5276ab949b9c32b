"""Authentication, scopes and rate limiting as FastAPI dependencies.

A request presents its key as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``.
Missing or invalid key → 401 (with ``WWW-Authenticate``); the key's bucket empty → 429 with
``Retry-After``; the key lacks the scope → 403. The rate limit applies before the scope check,
so a key probing forbidden routes is throttled too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.context import AppContext, app_context
from api.keys import ApiKey, Scope, authenticate

API_KEY_HEADER = "X-API-Key"
_CHALLENGE = {"WWW-Authenticate": f'Bearer, ApiKey header="{API_KEY_HEADER}"'}
_MAX_KEY_LENGTH = 128

api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="An API key made by `quorum serve --create-key`",
)
bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token")


def _presented(
    header_key: str | None, credentials: HTTPAuthorizationCredentials | None
) -> str | None:
    if header_key:
        return header_key
    if credentials is not None and credentials.credentials:
        return credentials.credentials
    return None


def require(scope: Scope) -> Callable[..., ApiKey]:
    """A dependency that authenticates the request, rate-limits it and checks ``scope``."""

    def dependency(
        ctx: Annotated[AppContext, Depends(app_context)],
        header_key: Annotated[str | None, Depends(api_key_header)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiKey:
        presented = _presented(header_key, credentials)
        if presented is None:
            ctx.metrics.requests.refused.labels("unauthorized").inc()
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"an API key is required: send it as {API_KEY_HEADER} or a bearer token",
                headers=_CHALLENGE,
            )
        key = None
        if len(presented) <= _MAX_KEY_LENGTH:
            key = authenticate(ctx.engine, presented.strip())
        if key is None:
            ctx.metrics.requests.refused.labels("unauthorized").inc()
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "the API key is not valid (unknown, revoked or mistyped)",
                headers=_CHALLENGE,
            )
        verdict = ctx.limiter.acquire(key.key_id)
        if not verdict.allowed:
            ctx.metrics.requests.refused.labels("rate_limited").inc()
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"rate limit of key {key.key_id} exceeded: {ctx.limiter.rate:g} requests/s, "
                f"bursts of {ctx.limiter.capacity:g}",
                headers={"Retry-After": verdict.retry_after_header},
            )
        if not key.allows(scope):
            ctx.metrics.requests.refused.labels("forbidden").inc()
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"key {key.key_id} lacks the {scope.value!r} scope "
                f"(it has: {', '.join(sorted(s.value for s in key.scopes))})",
            )
        return key

    dependency.__name__ = f"require_{scope.name.lower()}"
    return dependency


read_access = require(Scope.SIGNALS_READ)
review_access = require(Scope.REVIEW)
control_access = require(Scope.TRADING_CONTROL)
config_access = require(Scope.CONTROL)
admin_access = require(Scope.ADMIN)
