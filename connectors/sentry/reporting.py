"""Send unhandled errors to Sentry when ``QUORUM_SENTRY_DSN`` is set; off by default.

Nothing secret leaves the process: Sentry's event scrubber removes values under secret-looking
keys (its default deny-list plus Quorum's), recursively; no personal data is sent (Sentry's
default); and every string of the event passes :func:`scrub_text`, which masks credentials in
URLs and tokens of the kinds Quorum handles (Telegram bot tokens, Slack webhooks, Stripe and
OpenAI keys).

>>> scrub_text("postgresql+psycopg://quorum:hunter2@db:5432/q failed")
'postgresql+psycopg://quorum:[Filtered]@db:5432/q failed'
>>> scrub_text("POST https://api.telegram.org/bot123456:AAH-4kLx_9qzQ0rZcGv7YpWmE2sTnKdBfUe/send")
'POST https://api.telegram.org/bot[Filtered]/send'
>>> scrub_text("key " + "sk_" + "live_51Habc123DEF456ghi and hooks.slack.com/services/T0/B0/XyZ")
'key [Filtered] and hooks.slack.com/services/[Filtered]'
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

FILTERED = "[Filtered]"
DSN_ENV = "QUORUM_SENTRY_DSN"
QUORUM_DENYLIST = [
    "dsn",
    "webhook_url",
    "target",
    "signing_secret",
    "bot_token",
    "api_secret",
    "store_url",
    "hmac_key",
    "audit_key",
]
_PATTERNS = [
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), rf"\1{FILTERED}@"),  # user:password@ in URLs
    (re.compile(r"(/bot)\d+:[A-Za-z0-9_-]{20,}"), rf"\1{FILTERED}"),  # Telegram bot tokens
    (re.compile(r"(hooks\.slack\.com/services/)\S+"), rf"\1{FILTERED}"),
    (re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}"), FILTERED),  # Stripe keys
    (re.compile(r"\bwhsec_[A-Za-z0-9]{8,}"), FILTERED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), FILTERED),  # OpenAI-style keys
]


def scrub_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    return _scrub(event)


def init_error_reporting(
    dsn: str | None = None,
    *,
    environment: str | None = None,
    transport: Callable[..., Any] | Any | None = None,
) -> bool:
    """Start Sentry with ``dsn`` (default: ``$QUORUM_SENTRY_DSN``); ``False`` when there is none."""
    dsn = dsn or os.environ.get(DSN_ENV)
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    try:
        from importlib.metadata import version

        release = f"quorum@{version('quorum')}"
    except Exception:  # not installed as a distribution: no release tag
        release = None
    sentry_sdk.init(
        dsn=dsn,
        environment=environment or os.environ.get("QUORUM_ENVIRONMENT", "production"),
        release=release,
        include_local_variables=True,
        event_scrubber=EventScrubber(denylist=DEFAULT_DENYLIST + QUORUM_DENYLIST, recursive=True),
        before_send=_before_send,
        transport=transport,
    )
    return True
