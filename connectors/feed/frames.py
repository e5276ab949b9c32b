"""What every WebSocket market-data session shares: why a connection ended, bad frames.

:class:`FrameError` is raised by a frame decoder (Binance's, Alpaca's, Polygon's) with a short
``reason`` code and a message naming the field; the session dead-letters the raw frame, cut to
:data:`MAX_RAW_CHARS`. :class:`Ending` records why each connection ended.

>>> str(FrameError("malformed_frame", "expected a number - at `$.p`"))
'expected a number - at `$.p`'
>>> Ending.ROTATED in PLANNED, Ending.CLOSED in PLANNED
(True, False)
"""

from __future__ import annotations

from enum import StrEnum

MAX_RAW_CHARS = 65_536
"""The longest raw frame text a dead letter keeps."""


class FrameError(ValueError):
    """A frame that cannot be used; ``reason`` is a short code, the message names the field."""

    def __init__(self, reason: str, detail: str, stream: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.stream = stream


class Ending(StrEnum):
    """Why a connection ended."""

    STOPPED = "stopped"  # the partition is closing
    ROTATED = "rotated"  # planned: maximum age reached
    SHUTDOWN = "shutdown"  # planned: the server announced serverShutdown
    SILENT = "silent"  # nothing received for reconnect_after_silence
    CLOSED = "closed"  # the server or the network closed it
    FAILED = "failed"  # could not connect or subscribe


PLANNED = (Ending.ROTATED, Ending.SHUTDOWN)
"""Endings that reconnect at once (no backoff)."""
