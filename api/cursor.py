"""Opaque position tokens for paging and for resuming the live stream.

A cursor is a place in a time-ordered table: ``(ts_ns, id)``, the event time of a row and its
id (ties on time are broken by id). It travels as URL-safe base64 of ``"<ts_ns>:<id>"`` without
padding, so it fits a query string and an SSE ``id:`` line whatever the id contains.

>>> cursor = Cursor(1_641_015_000_000_000_000, "sig-90d9afdc")
>>> token = cursor.encode()
>>> Cursor.decode(token) == cursor
True
>>> Cursor.decode("not a cursor")
Traceback (most recent call last):
...
api.cursor.CursorError: not a cursor issued by this API: 'not a cursor'
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

INT64_MAX = 2**63 - 1
MAX_TOKEN_LENGTH = 512


class CursorError(ValueError):
    """A token that this API did not issue (or that was altered)."""


@dataclass(frozen=True, order=True, slots=True)
class Cursor:
    """A position ``(ts_ns, id)``: rows strictly after it come next (ascending order)."""

    ts_ns: int
    id: str

    def encode(self) -> str:
        text = f"{self.ts_ns}:{self.id}".encode()
        return base64.urlsafe_b64encode(text).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Parse a token; :class:`CursorError` names what is wrong with it."""
        shown = token if len(token) <= 40 else token[:37] + "..."
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise CursorError(f"not a cursor issued by this API: {shown!r}")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            ts_text, _, ident = raw.decode("utf-8").partition(":")
            ts_ns = int(ts_text)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise CursorError(f"not a cursor issued by this API: {shown!r}") from None
        if not ts_text.isdigit() or not 0 <= ts_ns <= INT64_MAX or not ident:
            raise CursorError(f"not a cursor issued by this API: {shown!r}")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in ident):
            raise CursorError(f"not a cursor issued by this API: {shown!r}")
        return cls(ts_ns, ident)
