"""ASGI middleware timing every request into the latency histogram (streams included)."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import RequestMetrics


class LatencyMiddleware:
    """Observe method, route template and status when the response starts."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                route: Any = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                elapsed = time.perf_counter() - started
                self.metrics.observe(scope["method"], template, message["status"], elapsed)
            await send(message)

        await self.app(scope, receive, timed_send)
