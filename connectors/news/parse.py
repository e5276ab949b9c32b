"""One feed record → :class:`~schemas.news.NewsPost`, for the shapes CryptoPanic publishes.

The API nests the publisher (``source: {title, domain}``) and the currencies
(``currencies: [{code, title}]``); recordings often flatten them (``source: "Reddit"``,
``currencies: ["ETH"]``). Both are read; anything else is a :class:`NewsFormatError` naming the
field and the value.

>>> post_from_feed({"id": 7, "published_at": "2018-01-15T05:38:46Z", "title": "NEO up",
...                 "source": {"title": "NewsBTC", "domain": "newsbtc.com"},
...                 "currencies": [{"code": "NEO", "title": "NEO"}],
...                 "votes": {"positive": 8, "negative": 0}}).currencies
('NEO',)
>>> post_from_feed({"id": 7, "published_at": "yesterday", "title": "x"})
Traceback (most recent call last):
...
connectors.news.parse.NewsFormatError: published_at: ... (got 'yesterday')
"""

from __future__ import annotations

import html
import re
from typing import Any

from pydantic import ValidationError

from schemas.news import NewsPost

_TAG = re.compile(r"<[^>]{0,200}>")


def clean_title(text: str) -> str:
    """Feed titles carry bits of HTML (``<span class="color-green">20%</span>``): plain text.

    >>> clean_title('NEO price is up <span class="color-green">20.38%</span> &amp; more')
    'NEO price is up 20.38% & more'
    """
    return " ".join(html.unescape(_TAG.sub("", text)).split())


class NewsFormatError(ValueError):
    """A feed record that is not a post; the message names the field and the value."""


def _source(record: dict[str, Any]) -> tuple[str, str]:
    source = record.get("source")
    if isinstance(source, dict):
        return str(source.get("title") or ""), str(
            source.get("domain") or record.get("domain") or ""
        )
    return str(source or ""), str(record.get("domain") or "")


def _currencies(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise NewsFormatError(f"currencies: expected a list, got {value!r}")
    codes = []
    for item in value:
        code = item.get("code") if isinstance(item, dict) else item
        if not isinstance(code, str) or not code.strip():
            raise NewsFormatError(f"currencies: expected currency codes, got {item!r}")
        codes.append(code)
    return codes


def post_from_feed(record: Any) -> NewsPost:
    """A validated post from one feed record (see the module docstring)."""
    if not isinstance(record, dict):
        raise NewsFormatError(f"(record): expected a JSON object, got {type(record).__name__}")
    source, domain = _source(record)
    votes = record.get("votes") or {}
    if not isinstance(votes, dict):
        raise NewsFormatError(f"votes: expected an object of counts, got {votes!r}")
    try:
        return NewsPost(
            post_id=str(record.get("id", "")),
            published_at=record.get("published_at"),
            title=clean_title(str(record.get("title") or "")),
            source=source,
            domain=domain,
            currencies=_currencies(record.get("currencies")),
            votes={str(k): v for k, v in votes.items() if isinstance(v, int)},
            url=str(record.get("url") or ""),
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(record)"
        raise NewsFormatError(f"{field}: {err['msg']} (got {err.get('input')!r})") from None
