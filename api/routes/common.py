"""Checks shared by the routes that FastAPI's declarations cannot express."""

from __future__ import annotations

from api.cursor import Cursor, CursorError
from api.errors import invalid
from api.params import StoreTime
from schemas.common import datetime_to_ns


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
