"""Fault switches of the exchange simulator, flipped at run time from any thread.

Frame faults act on the data frames the server is about to send (a control reply or a ping is
never touched); REST faults answer the next requests with an error status instead of data.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RestFailure:
    """One scripted REST failure: HTTP ``status`` (429, 418, 5xx) with an optional Retry-After."""

    status: int = 429
    retry_after: int | None = 1
    path: str | None = None  # only requests to this path (e.g. "/api/v3/klines"); None = any

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP error (400-599), got {self.status}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"retry_after must be >= 0 seconds, got {self.retry_after}")


class Faults:
    """Runtime-togglable faults.

    >>> faults = Faults()
    >>> faults.duplicate_next(1); faults.corrupt_next(1)      # both hit the next frame
    >>> faults.shape(['{"a":1}', '{"b":2}'], hold=[])
    ['{"a', '{"a', '{"b":2}']
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._silent = False
        self._refuse = False
        self._corrupt = 0
        self._duplicate = 0
        self._reorder = 0
        self._rest: deque[RestFailure] = deque()

    # --- switches -----------------------------------------------------------------------------
    @property
    def silent(self) -> bool:
        return self._silent

    def go_silent(self, on: bool = True) -> None:
        """Keep every connection, present and future, open but send no data (frames are lost,
        no pings); see also ``ExchangeSimulator.stall_connections`` for the current ones only."""
        self._silent = on

    @property
    def refusing(self) -> bool:
        return self._refuse

    def refuse_connections(self, on: bool = True) -> None:
        """Close every new WebSocket connection at once (code 1013, try again later)."""
        self._refuse = on

    def corrupt_next(self, n: int) -> None:
        """Truncate the next ``n`` data frames (invalid JSON)."""
        with self._lock:
            self._corrupt += _count(n)

    def duplicate_next(self, n: int) -> None:
        """Send each of the next ``n`` data frames twice."""
        with self._lock:
            self._duplicate += _count(n)

    def reorder_next(self, n: int) -> None:
        """Hold the next ``n`` data frames of a connection, then send them in reverse order."""
        with self._lock:
            self._reorder += _count(n)

    def fail_rest(
        self, n: int = 1, status: int = 429, retry_after: int | None = 1, path: str | None = None
    ) -> None:
        """Answer the next ``n`` REST requests (to ``path`` if given) with ``status``."""
        failure = RestFailure(status, retry_after, path)
        with self._lock:
            self._rest.extend([failure] * _count(n))

    def clear(self) -> None:
        with self._lock:
            self._silent = self._refuse = False
            self._corrupt = self._duplicate = self._reorder = 0
            self._rest.clear()

    # --- used by the servers ------------------------------------------------------------------
    def shape(self, frames: list[str], hold: list[str]) -> list[str]:
        """Frames to send for ``frames``, after the active faults; ``hold`` is the connection's
        reorder buffer (kept between calls)."""
        if self._silent:
            return []
        out: list[str] = []
        with self._lock:
            for frame in frames:
                if self._reorder:
                    self._reorder -= 1
                    hold.append(frame)
                    continue
                if hold:
                    out.extend(reversed(hold))
                    hold.clear()
                if self._corrupt:
                    self._corrupt -= 1
                    frame = frame[: len(frame) // 2]
                out.append(frame)
                if self._duplicate:
                    self._duplicate -= 1
                    out.append(frame)
            if hold and not self._reorder:
                out.extend(reversed(hold))
                hold.clear()
        return out

    def take_rest_failure(self, path: str) -> RestFailure | None:
        """The scripted failure for a request to ``path``, if any (consumed)."""
        with self._lock:
            for i, failure in enumerate(self._rest):
                if failure.path is None or failure.path == path:
                    del self._rest[i]
                    return failure
        return None


def _count(n: int) -> int:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return int(n)
