"""Market hours for live orders: is a venue's session open now, and when does it next open.

Sessions come from :mod:`operators.candles.calendars` (``XNYS`` regular hours for US stocks,
holidays and early closes included; ``24/7`` for crypto). :func:`session_clock` answers like
Alpaca's ``/v2/clock``; :func:`session_refusal` is what the live router asks before sending.

>>> t = np.datetime64("2022-01-04T15:00", "ns").astype(np.int64)   # a Tuesday, 10:00 New York
>>> is_open, next_open, next_close = session_clock(int(t), "XNYS")
>>> is_open, str(np.datetime64(next_close, "ns")), str(np.datetime64(next_open, "ns"))
(True, '2022-01-04T21:00:00.000000000', '2022-01-05T14:30:00.000000000')
>>> saturday = np.datetime64("2022-01-08T15:00", "ns").astype(np.int64)
>>> session_refusal(int(saturday), "XNYS")
'outside XNYS regular hours (next open 2022-01-10T14:30:00Z)'
>>> session_refusal(int(saturday), "24/7") is None
True
"""

from __future__ import annotations

import numpy as np

from operators.candles.calendars import ExchangeSessions, calendar_for
from schemas.common import ns_to_datetime


def session_clock(now_ns: int, calendar: str) -> tuple[bool, int, int]:
    """``(is_open, next_open, next_close)`` of ``calendar`` at ``now_ns`` (all ns); while open,
    ``next_open`` is the following session's open (Alpaca's convention)."""
    sessions = calendar_for(calendar)
    if not isinstance(sessions, ExchangeSessions):
        raise ValueError(f"{calendar} has no sessions (use an exchange-calendars code)")
    is_open = bool(sessions.is_open(np.array([now_ns]))[0])
    following = int(np.searchsorted(sessions.opens, now_ns, side="right"))
    closing = int(np.searchsorted(sessions.closes, now_ns, side="right"))
    return is_open, int(sessions.opens[following]), int(sessions.closes[closing])


def session_refusal(now_ns: int, calendar: str) -> str | None:
    """Why an order may not go out at ``now_ns`` (None: the session is open)."""
    sessions = calendar_for(calendar)
    if sessions.always_open or bool(sessions.is_open(np.array([now_ns]))[0]):
        return None
    _, next_open, _ = session_clock(now_ns, calendar)
    stamp = ns_to_datetime(next_open).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"outside {calendar} regular hours (next open {stamp})"
