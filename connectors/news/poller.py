"""Poll a CryptoPanic-style posts endpoint: new posts since the last poll, each once.

A poll asks for the newest page and follows ``next`` (at most ``max_pages``) until a page holds
nothing new; posts already seen (by id, a bounded memory) are dropped. Records that are not
posts come back as dead letters. An HTTP or network failure is a :class:`NewsFeedError` whose
message names the endpoint and status but never the token.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from typing import Any

import httpx

from connectors.news.config import NewsPollerConfig
from connectors.news.parse import NewsFormatError, post_from_feed
from schemas.news import NewsPost
from schemas.records import DeadLetter


class _HideToken(logging.Filter):
    """httpx logs each request's URL at INFO: the token travels in the query, so mask it."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(
                str(a).replace(self.token, "[REDACTED]") if self.token in str(a) else a
                for a in args
            )
        if isinstance(record.msg, str) and self.token in record.msg:
            record.msg = record.msg.replace(self.token, "[REDACTED]")
        return True


def _hide_in_logs(token: str) -> None:
    httpx_logger = logging.getLogger("httpx")
    if token and not any(
        isinstance(f, _HideToken) and f.token == token for f in httpx_logger.filters
    ):
        httpx_logger.addFilter(_HideToken(token))


class NewsFeedError(RuntimeError):
    """The endpoint could not be read (status or network); the token is never in the text."""


class NewsPoller:
    """Keeps the ids it has seen (picklable: :meth:`state` / ``seen=``) and an HTTP client."""

    def __init__(
        self,
        config: NewsPollerConfig,
        *,
        seen: list[str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self._token = os.environ.get(config.auth_token_env, "")
        _hide_in_logs(self._token)
        self._seen_order: deque[str] = deque(seen or [], maxlen=config.remember)
        self._seen = set(self._seen_order)
        self._http = httpx.Client(timeout=config.timeout_seconds, transport=transport)

    def __repr__(self) -> str:
        return f"NewsPoller({self.config.posts_url!r}, seen={len(self._seen)})"

    def state(self) -> list[str]:
        return list(self._seen_order)

    def close(self) -> None:
        self._http.close()

    def _params(self) -> dict[str, str]:
        params = {"public": "true", "kind": self.config.kind}
        if self._token:
            params["auth_token"] = self._token
        if self.config.currencies:
            params["currencies"] = ",".join(self.config.currencies)
        return params

    def _get(self, url: str, params: dict[str, str] | None) -> dict[str, Any]:
        try:
            response = self._http.get(url, params=params)
        except httpx.HTTPError as exc:
            raise NewsFeedError(
                f"cannot reach {self.config.posts_url}: {type(exc).__name__}"
            ) from None
        if response.status_code >= 400:
            raise NewsFeedError(f"{self.config.posts_url} answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise NewsFeedError(f"{self.config.posts_url} answered with non-JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise NewsFeedError(f"{self.config.posts_url} answered without a results list")
        return body

    def poll(self) -> tuple[list[NewsPost], list[DeadLetter]]:
        """New posts (oldest first) and the records that were not posts."""
        fresh: list[NewsPost] = []
        dead: list[DeadLetter] = []
        url: str | None = self.config.posts_url
        params: dict[str, str] | None = self._params()
        for _ in range(self.config.max_pages):
            if url is None:
                break
            body = self._get(url, params)
            new_on_page = 0
            for record in body["results"]:
                try:
                    post = post_from_feed(record)
                except NewsFormatError as exc:
                    dead.append(
                        DeadLetter(
                            source="news:poller",
                            reason="bad_news_record",
                            detail=str(exc),
                            raw=str(record)[:2_000],
                            # every poll shows the same bad record again: one occurrence
                            occurrence="",
                        )
                    )
                    continue
                if post.post_id in self._seen:
                    continue
                self._remember(post.post_id)
                fresh.append(post)
                new_on_page += 1
            if new_on_page == 0:
                break
            url, params = body.get("next"), None  # ``next`` carries the query already
        fresh.sort(key=lambda p: (p.published_at, p.post_id))
        return fresh, dead

    def _remember(self, post_id: str) -> None:
        if len(self._seen_order) == self._seen_order.maxlen:
            self._seen.discard(self._seen_order[0])
        self._seen_order.append(post_id)
        self._seen.add(post_id)
