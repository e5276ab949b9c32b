"""Redaction: secrets and personal data never reach a prompt.

Everything sent to a model passes :func:`redact_value` first: credentials (API keys of the
usual shapes, bearer tokens, ``password=``/``secret:`` pairs, credentials inside URLs, JWTs,
private-key blocks) and personal data (e-mail addresses, phone numbers, IP addresses, card-like
digit runs) become ``[REDACTED:<kind>]``; exact values the caller knows to be secret (the
configured API key) are removed whatever their shape.

>>> redact_text("key sk-proj-abcdefghijklmnop1234 for ana@example.com").text
'key [REDACTED:api_key] for [REDACTED:email]'
>>> redact_text("BTC/USDT score +0.62 at 2022-01-05T10:00:00+00:00").text
'BTC/USDT score +0.62 at 2022-01-05T10:00:00+00:00'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Order matters: the specific shapes first, the generic ones last.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private_key",
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
    ),
    ("url_credentials", re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("api_key", re.compile(r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}")),
    ("api_key", re.compile(r"\bwhsec_[A-Za-z0-9]{8,}")),
    ("api_key", re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")),
    ("api_key", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}")),
    ("api_key", re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}")),
    ("aws_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("bearer", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}")),
    (
        "credential",
        re.compile(
            r"(?i)\b(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|auth[_-]?token)"
            r"\s*[:=]\s*[^\s,;\"']+"
        ),
    ),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")),
    ("card", re.compile(r"\b(?:\d[ -]?){13,19}\b")),
    ("phone", re.compile(r"(?<![\w.])\+\d[\d ()-]{7,17}\d\b")),
    ("ip_address", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")),
)


@dataclass(frozen=True, slots=True)
class Redacted:
    """Redacted text and how many of each kind were removed."""

    text: str
    removed: dict[str, int] = field(default_factory=dict)


def redact_text(text: str, secrets: Iterable[str] = ()) -> Redacted:
    """``text`` with every secret and personal datum replaced by ``[REDACTED:<kind>]``.

    >>> redact_text("token=abc123 and hunter2", secrets=["hunter2"]).removed
    {'secret': 1, 'credential': 1}
    """
    counts: Counter[str] = Counter()
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        hits = text.count(secret)
        if hits:
            counts["secret"] += hits
            text = text.replace(secret, "[REDACTED:secret]")
    for kind, pattern in _PATTERNS:
        text, hits = pattern.subn(f"[REDACTED:{kind}]", text)
        if hits:
            counts[kind] += hits
    return Redacted(text, dict(counts))


def redact_value(value: Any, secrets: Iterable[str] = ()) -> tuple[Any, dict[str, int]]:
    """Redact every string inside a JSON-like value (keys too); returns the copy and counts.

    >>> redact_value({"note": "call +44 20 7946 0958", "n": 3})
    ({'note': 'call [REDACTED:phone]', 'n': 3}, {'phone': 1})
    """
    secrets = tuple(secrets)
    counts: Counter[str] = Counter()

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            done = redact_text(item, secrets)
            counts.update(done.removed)
            return done.text
        if isinstance(item, dict):
            return {walk(str(k)): walk(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v) for v in item]
        return item

    return walk(value), dict(counts)
