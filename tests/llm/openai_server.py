"""A local OpenAI-compatible chat-completions server on 127.0.0.1 for the real ``openai`` SDK.

It answers ``POST /v1/chat/completions`` from a script of canned replies (fixed completions,
HTTP 429, a hang that outlasts the client's timeout, malformed bodies, refusals), then from a
default responder; it records every request body so tests can check what left the process.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback_http import LoopbackServer, send_json


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    raw: bytes | None = None


def completion(
    content: str | None,
    *,
    prompt_tokens: int = 120,
    completion_tokens: int = 30,
    finish_reason: str = "stop",
    refusal: str | None = None,
    model: str = "local-model",
) -> Reply:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if refusal is not None:
        message["refusal"] = refusal
    return Reply(
        body={
            "id": "chatcmpl-local",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


def rate_limited() -> Reply:
    return Reply(
        status=429,
        body={
            "error": {
                "message": "Rate limit reached",
                "type": "requests",
                "code": "rate_limit_exceeded",
            }
        },
        headers={"retry-after-ms": "1"},
    )


class OpenAiCompatibleServer(LoopbackServer):
    """Start with ``with OpenAiCompatibleServer() as server: server.base_url``."""

    path_prefix = "/v1"

    def __init__(self, default: Callable[[dict[str, Any]], Reply] | None = None) -> None:
        self.script: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.raw_requests: list[bytes] = []
        self.default = default or (lambda _request: completion('{"summary": "ok"}'))
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                owner.raw_requests.append(raw + b"\n" + bytes(self.headers))
                request = json.loads(raw)
                owner.requests.append(request)
                if self.path != "/v1/chat/completions":
                    self._send(Reply(status=404, body={"error": {"message": "no route"}}))
                    return
                reply = owner.script.popleft() if owner.script else owner.default(request)
                if reply.hang:
                    owner.release.wait(30)
                    return
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                send_json(self, reply.status, payload, reply.headers)

        super().__init__(Handler)

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        super().__exit__(*exc)
