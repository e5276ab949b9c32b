"""A local CryptoPanic-compatible posts endpoint on 127.0.0.1 (pages with ``next`` links)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.loopback_http import LoopbackServer, send_json


def api_post(post_id: int, minute: int, title: str, codes: list[str], **votes: int) -> dict:
    """A post in the API's nested shape."""
    return {
        "kind": "news",
        "domain": "example.org",
        "source": {"title": "Example", "region": "en", "domain": "example.org"},
        "title": title,
        "published_at": f"2018-01-17T22:{minute:02d}:00Z",
        "currencies": [{"code": c, "title": c, "slug": c.lower()} for c in codes],
        "id": post_id,
        "url": f"https://example.org/{post_id}",
        "votes": {"negative": 0, "positive": 0, "important": 0, **votes},
    }


class NewsServer(LoopbackServer):
    """Serves ``pages`` (lists of posts, newest page first) at /api/v1/posts/?page=N."""

    path_prefix = "/api/v1"

    def __init__(self) -> None:
        self.pages: list[list[dict[str, Any]]] = [[]]
        self.status = 200
        self.queries: list[dict[str, list[str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                owner.queries.append(query)
                if owner.status != 200 or url.path != "/api/v1/posts/":
                    self._send(owner.status if owner.status != 200 else 404, {"detail": "no"})
                    return
                page = int(query.get("page", ["1"])[0])
                more = page < len(owner.pages)
                token = query.get("auth_token", [""])[0]
                body = {
                    "count": sum(len(p) for p in owner.pages),
                    "next": (
                        f"{owner.base_url}/posts/?auth_token={token}&page={page + 1}"
                        if more
                        else None
                    ),
                    "previous": None,
                    "results": owner.pages[page - 1],
                }
                self._send(200, body)

            def _send(self, status: int, body: Any) -> None:
                send_json(self, status, json.dumps(body).encode())

        super().__init__(Handler)
