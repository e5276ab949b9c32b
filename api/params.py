"""Validated request values shared by the routes: text, identifiers and store-safe times.

Every value a client sends is bounded before it reaches the store: text has a maximum length
and no control characters (SQLite would silently cut a string at a NUL; PostgreSQL refuses
one), times must fit the store's signed 64-bit nanoseconds, and a naive time is read as UTC.

>>> from pydantic import TypeAdapter
>>> TypeAdapter(StoreTime).validate_python("2022-01-03T00:00:00").isoformat()
'2022-01-03T00:00:00+00:00'
>>> TypeAdapter(StoreTime).validate_python("9999-01-01T00:00:00Z")
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for ...
  Value error, time 9999-01-01T00:00:00+00:00 is outside what the store holds ...
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
"""Printable text only: no NUL, no line breaks, no other control characters."""

MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2262, 4, 11, tzinfo=UTC)

Name = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=NO_CONTROL)]
"""An asset, origin or other short name as stored by the flow."""

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=160, pattern=NO_CONTROL)]
"""A record id (fused signal, order, run)."""

CursorToken = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=NO_CONTROL)]


def _store_time(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    aware = aware.astimezone(UTC)
    if not MIN_TIME <= aware < MAX_TIME:
        raise ValueError(
            f"time {aware.isoformat()} is outside what the store holds "
            "(1970-01-01 to 2262-04-11 UTC)"
        )
    return aware


StoreTime = Annotated[datetime, AfterValidator(_store_time)]
"""An instant the store can hold (ns since the epoch in a signed 64-bit integer); naive = UTC."""


def _comment_text(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError("comment must not be blank")
    bad = sorted(
        {f"U+{ord(ch):04X}" for ch in text if (ord(ch) < 32 and ch not in "\t\n\r") or ch == "\x7f"}
    )
    if bad:
        raise ValueError(f"comment must not contain control characters ({', '.join(bad)})")
    return text


Comment = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2000, pattern=r"\S"),
    AfterValidator(_comment_text),
]
"""A reviewer's comment: 1-2000 characters, not blank (the schema's pattern says it holds a
non-space character), line breaks and tabs allowed, no other control characters."""
