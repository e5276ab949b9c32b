"""Bookkeeping records: dead letters, late data, audit chain and billing ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from schemas.common import Frozen, UtcDatetime


class JudgedRecord(Frozen):
    """A record a validator judged, with the reason and the raw record (base of the two below)."""

    source: str = Field(description="Feed or file the record came from")
    symbol: str | None = None
    reason: str = Field(description="Machine-readable reason code, e.g. non_positive_price")
    detail: str = Field(description="Human-readable message naming the field and value")
    raw: str = Field(description="The raw record as received (JSON or text)")
    ts: UtcDatetime | None = Field(default=None, description="Event time, when it could be read")


class DeadLetter(JudgedRecord):
    """A record that failed validation: never dropped silently, never crashes the flow."""


class QualityFlag(JudgedRecord):
    """A record that looked suspect but was kept: counted and visible, never silently changed.

    A venue's own trades are its market: a price far from the recent ones (the wick of a fast
    move) is flagged with the reason (e.g. ``price_outlier``) and kept; it is rejected (a
    :class:`DeadLetter`) only under an explicit policy or when a second source disagrees.
    """


class LateTrade(Frozen):
    """A trade that arrived behind the watermark of its symbol's candle builder."""

    symbol: str
    ts: UtcDatetime
    price: float
    amount: float
    trade_id: str | None = None
    watermark: UtcDatetime


class AuditRecord(Frozen):
    """One link of the hash chain: hash = H(seq, prev_hash, kind, ts, payload)."""

    seq: int = Field(ge=0)
    ts: UtcDatetime
    kind: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class LedgerEntry(Frozen):
    """A billing ledger line (charge, credit or usage) for a subscriber."""

    entry_id: str
    subscriber: str
    kind: str = Field(description="subscription | usage | credit | refund")
    amount: Decimal = Field(description="In the ledger currency; credits are negative")
    currency: str = "usd"
    ts: UtcDatetime
    reference: str | None = None


Charge = LedgerEntry
