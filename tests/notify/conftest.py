"""Local peers for the notification channels: one HTTP server (Telegram, Slack, webhooks) and
an SMTP server (aiosmtpd), both on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class HttpPeer:
    """Records every POST; answers from a script of (status, headers, body), then 200."""

    url: str
    received: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_next(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.script.append((status, headers, body))


@pytest.fixture
def http_peer() -> Iterator[HttpPeer]:
    peer: HttpPeer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with peer.lock:
                peer.received.append(Received(self.path, dict(self.headers), body))
                status, headers, answer = peer.script.pop(0) if peer.script else (200, {}, b"")
            if status == 200 and not answer:
                is_telegram = "/sendMessage" in self.path
                answer = b'{"ok":true,"result":{"message_id":1}}' if is_telegram else b"ok"
            self.send_response(status)
            content_type = "application/json" if answer.startswith(b"{") else "text/plain"
            self.send_header("Content-Type", content_type)
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    peer = HttpPeer(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.content)  # type: ignore[attr-defined]
        )
        return "250 OK"


@dataclass
class SmtpPeer:
    host: str
    port: int
    mailbox: _Mailbox


@pytest.fixture
def smtp_peer() -> Iterator[SmtpPeer]:
    mailbox = _Mailbox()
    with socket.socket() as probe:  # aiosmtpd cannot bind port 0: take a free one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpPeer("127.0.0.1", controller.port, mailbox)
    finally:
        controller.stop()
