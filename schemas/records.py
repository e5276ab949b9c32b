"""Bookkeeping records: dead letters, late data and the audit chain (billing: schemas.billing)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from schemas.common import Frozen, UtcDatetime


class DeadLetter(Frozen):
    """A record that failed validation: never dropped silently, never crashes the flow."""

    source: str = Field(description="Feed or file the record came from")
    symbol: str | None = None
    reason: str = Field(description="Machine-readable reason code, e.g. non_positive_price")
    detail: str = Field(description="Human-readable message naming the field and value")
    raw: str = Field(description="The raw record as received (JSON or text)")
    ts: UtcDatetime | None = Field(default=None, description="Event time, when it could be read")


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
