"""The hash chain of the audit log: append records, verify a chain.

Each record's hash is ``sha256`` of the canonical JSON (orjson, keys sorted, no whitespace) of
``{"seq", "ts", "kind", "payload", "prev_hash"}`` with ``ts`` as integer nanoseconds since the
epoch (UTC). The first record links to :data:`GENESIS_HASH`. Editing any field of a record
changes its hash; removing, inserting or reordering records breaks the ``seq`` sequence or the
``prev_hash`` links; removing records at the end is caught against the separately kept head
(seq and hash of the last record). A chain without a secret key is tamper-*evident* against
edits that do not recompute every later hash and the head; anchor the head elsewhere (or sign
it) for more.

>>> from datetime import UTC, datetime
>>> chain = AuditChain()
>>> first = chain.append(AuditEvent("fill", datetime(2022, 1, 1, tzinfo=UTC), {"qty": "1.5"}))
>>> second = chain.append(AuditEvent("fill", datetime(2022, 1, 1, tzinfo=UTC), {"qty": "2"}))
>>> second.prev_hash == first.hash, second.seq
(True, 1)
>>> verify_chain([first, second], head=(1, second.hash)).ok
True
>>> edited = first.model_copy(update={"payload": {"qty": "15"}})
>>> print(verify_chain([edited, second], head=(1, second.hash)).message)
record 0 (fill): content does not match its hash: the record was edited
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from schemas.common import datetime_to_ns
from schemas.records import AuditRecord

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no whitespace, shortest round-trip floats.

    >>> canonical_json({"b": 1, "a": [1.5, None, "x"]})
    b'{"a":[1.5,null,"x"],"b":1}'
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def record_hash(
    seq: int, ts: datetime, kind: str, payload: Mapping[str, Any], prev_hash: str
) -> str:
    """The sha256 (hex) of one record's canonical form."""
    body = {
        "seq": seq,
        "ts": datetime_to_ns(ts),
        "kind": kind,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Something to record, before it gets its place (seq) in the chain."""

    kind: str
    ts: datetime
    payload: dict[str, Any]


class AuditChain:
    """Appends events, assigning ``seq`` and linking hashes (picklable: two fields)."""

    def __init__(self, next_seq: int = 0, prev_hash: str = GENESIS_HASH) -> None:
        if next_seq < 0:
            raise ValueError(f"next_seq must be ≥ 0, got {next_seq}")
        self.next_seq = next_seq
        self.prev_hash = prev_hash

    @classmethod
    def after(cls, head: tuple[int, str] | None) -> AuditChain:
        """A chain continuing after ``head`` = (seq, hash) of the last record (None: empty)."""
        return cls() if head is None else cls(head[0] + 1, head[1])

    def append(self, event: AuditEvent) -> AuditRecord:
        # The payload is normalised through its canonical JSON so the stored record and the
        # hashed bytes are the same thing (e.g. a NaN becomes null in both).
        payload = orjson.loads(canonical_json(event.payload))
        digest = record_hash(self.next_seq, event.ts, event.kind, payload, self.prev_hash)
        record = AuditRecord(
            seq=self.next_seq,
            ts=event.ts,
            kind=event.kind,
            payload=payload,
            prev_hash=self.prev_hash,
            hash=digest,
        )
        self.next_seq += 1
        self.prev_hash = digest
        return record


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of a verification: ``bad_seq`` names the first bad record, ``reason`` why."""

    checked: int
    last_seq: int | None
    bad_seq: int | None = None
    bad_kind: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.bad_seq is None

    @property
    def message(self) -> str:
        if self.ok:
            last = "empty" if self.last_seq is None else f"records 0..{self.last_seq}"
            return f"audit chain intact: {self.checked} records ({last})"
        kind = f" ({self.bad_kind})" if self.bad_kind else ""
        return f"record {self.bad_seq}{kind}: {self.reason}"


def verify_chain(records: Iterable[AuditRecord], head: tuple[int, str] | None) -> VerifyResult:
    """Check ``records`` (read in ascending ``seq``) against each other and the ``head``."""
    prev_hash, checked = GENESIS_HASH, 0
    last_seq: int | None = None

    def bad(seq: int, reason: str, kind: str | None = None) -> VerifyResult:
        return VerifyResult(checked, last_seq, seq, kind, reason)

    for expected_seq, rec in enumerate(records):
        if rec.seq != expected_seq:
            if rec.seq > expected_seq:
                gap = (
                    f"record {expected_seq} is missing"
                    if rec.seq == expected_seq + 1
                    else f"records {expected_seq}..{rec.seq - 1} are missing"
                )
                return bad(expected_seq, f"{gap} (deleted): the chain jumps to {rec.seq}")
            return bad(rec.seq, f"out of order: expected seq {expected_seq}", rec.kind)
        if rec.prev_hash != prev_hash:
            return bad(
                rec.seq,
                "prev_hash does not match the previous record's hash: records were reordered, "
                "replaced or removed",
                rec.kind,
            )
        if record_hash(rec.seq, rec.ts, rec.kind, rec.payload, rec.prev_hash) != rec.hash:
            return bad(rec.seq, "content does not match its hash: the record was edited", rec.kind)
        prev_hash, last_seq = rec.hash, rec.seq
        checked = expected_seq + 1
    if head is None:
        if last_seq is not None:
            return bad(last_seq, "the head row is missing: it must record the last seq and hash")
        return VerifyResult(checked, last_seq)
    head_seq, head_hash = head
    if last_seq is None or head_seq > last_seq:
        first_missing = 0 if last_seq is None else last_seq + 1
        return bad(
            first_missing,
            f"truncated: the head records seq {head_seq} but the chain ends at "
            f"{'nothing' if last_seq is None else last_seq}",
        )
    if head_seq < last_seq:
        return bad(head_seq + 1, f"records after the head (seq {head_seq}) were added around it")
    if head_hash != prev_hash:
        return bad(head_seq, "hash differs from the head's: the last record was replaced")
    return VerifyResult(checked, last_seq)
