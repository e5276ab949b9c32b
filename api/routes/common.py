"""Checks and writes shared by the routes that FastAPI's declarations cannot express."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import HTTPException

from api.context import AppContext
from api.cursor import Cursor, CursorError
from api.errors import invalid
from api.keys import ApiKey
from api.params import StoreTime
from connectors.store.audit import AuditConflictError
from schemas.common import datetime_to_ns

T = TypeVar("T")


def parse_cursor(token: str | None, location: str, name: str) -> Cursor | None:
    """A cursor from a request value, or a 422 naming the field."""
    if token is None:
        return None
    try:
        return Cursor.decode(token)
    except CursorError as exc:
        raise invalid(location, name, str(exc)) from None


def time_range(start: StoreTime | None, end: StoreTime | None) -> tuple[int | None, int | None]:
    """``[start, end)`` in ns; a 422 on ``end`` when it is not after ``start``."""
    if start is not None and end is not None and end <= start:
        raise invalid("query", "end", f"end {end.isoformat()} must be after start")
    return (
        None if start is None else datetime_to_ns(start),
        None if end is None else datetime_to_ns(end),
    )


def audited_write(
    write: Callable[..., T], ctx: AppContext, key: ApiKey, /, *args: Any, **kwargs: Any
) -> T:
    """``write(engine, *args, **kwargs)`` audited as the key's owner, via the key, now.

    A concurrent writer that took the audit chain's next place first → 503 with
    ``Retry-After`` (the write can simply be retried).
    """
    try:
        return write(
            ctx.engine,
            *args,
            actor=key.owner,
            via=f"api:{key.key_id}",
            now=ctx.settings.now(),
            **kwargs,
        )
    except AuditConflictError as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from None
