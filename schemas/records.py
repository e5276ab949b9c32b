"""Bookkeeping records: dead letters, late data and the audit chain (billing: schemas.billing)."""

from __future__ import annotations

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
    occurrence: str = Field(
        default="",
        max_length=160,
        description=(
            "Where the producer met the record (file row, stream row, Kafka "
            "topic/partition/offset, live frame): two identical raw records are two "
            "occurrences, the same one re-emitted after a resume is one"
        ),
    )


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
    ts_ns: int | None = Field(
        default=None, description="The exact event time, ns since the epoch (ts is rounded to µs)"
    )
    kind: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str
    key_id: str | None = Field(
        default=None, description="Id of the audit key the hash is an HMAC with (None: sha256)"
    )


class AuditCheckpoint(Frozen):
    """The audit chain's head at a moment, kept outside the store (file, table or topic).

    ``count`` records (seq 0..count-1) existed then and the last one had ``head_hash``. With an
    audit key it is signed (HMAC-SHA256 over its other fields), so whoever can write where it is
    kept still cannot forge a later one.
    """

    count: int = Field(ge=0, description="Records in the chain (head seq + 1)")
    head_hash: str = Field(description="Hash of record count-1 (the genesis hash when empty)")
    written_at_ns: int = Field(description="Wall-clock time it was taken, ns since the epoch")
    key_id: str | None = Field(default=None, description="Id of the signing key (None: unsigned)")
    signature: str | None = Field(default=None, description="HMAC-SHA256 hex of the other fields")
