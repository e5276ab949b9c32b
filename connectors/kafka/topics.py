"""Record kinds and their topics: one topic per kind, named ``<prefix>.<kind>``.

>>> topic_name("quorum.v1", Kind.FUSED_SIGNALS)
'quorum.v1.fused_signals'
>>> Kind.parse("candles") is Kind.CANDLES
True
>>> Kind.parse("bars")
Traceback (most recent call last):
...
ValueError: unknown record kind 'bars'; expected one of trades, quotes, candles, ...
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a topic carries: ``trades`` and ``quotes`` are inputs, the rest the flow's outputs."""

    TRADES = "trades"
    QUOTES = "quotes"
    CANDLES = "candles"
    FEATURES = "features"
    SIGNALS = "signals"
    FUSED_SIGNALS = "fused_signals"
    RISK_DECISIONS = "risk_decisions"
    ORDERS = "orders"
    FILLS = "fills"
    POSITIONS = "positions"
    EQUITY = "equity"
    DEAD_LETTERS = "dead_letters"
    LATE_TRADES = "late_trades"
    FEED_HEALTH = "feed_health"
    REVIEWS = "reviews"
    AUDIT = "audit"

    @classmethod
    def parse(cls, text: str) -> Kind:
        try:
            return cls(text.strip())
        except ValueError:
            allowed = ", ".join(k.value for k in cls)
            raise ValueError(f"unknown record kind {text!r}; expected one of {allowed}") from None


def topic_name(prefix: str, kind: Kind | str) -> str:
    return f"{prefix}.{Kind(kind).value}"


SCHEMA_NAMESPACE = "quorum.v1"
"""Namespace of the envelope's ``schema`` field, whatever prefix the topics carry."""


def schema_name(kind: Kind | str) -> str:
    """The envelope's ``schema`` field.

    >>> schema_name("orders")
    'quorum.v1.orders'
    """
    return f"{SCHEMA_NAMESPACE}.{Kind(kind).value}"
