"""The hash chain of the audit log: append records, verify a chain.

Each record's hash is computed over the canonical JSON (orjson, keys sorted, no whitespace) of
``{"seq", "ts", "kind", "payload", "prev_hash"}`` with ``ts`` as integer nanoseconds since the
epoch (UTC), compared at full nanosecond precision. Unkeyed, the hash is ``sha256`` of it;
keyed (:class:`~operators.audit.keys.AuditKey`), the body also names the ``key_id`` and the
hash is its HMAC-SHA256, which only a key holder can produce. The first record links to
:data:`GENESIS_HASH`. Editing any field of a record changes its hash; removing, inserting or
reordering records breaks the ``seq`` sequence or the ``prev_hash`` links; removing records at
the end is caught against the separately kept head and, beyond the store, against the latest
checkpoint (``anchor``). Without the key, someone who can write the store can recompute every
hash after an edit; only a checkpoint kept elsewhere shows that then.

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

from operators.audit.keys import AuditKey
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
    seq: int,
    ts: datetime | int,
    kind: str,
    payload: Mapping[str, Any],
    prev_hash: str,
    key: AuditKey | None = None,
) -> str:
    """The hash (hex) of one record's canonical form: sha256, or HMAC-SHA256 with ``key``.

    ``ts`` is a datetime or exact nanoseconds since the epoch.
    """
    body: dict[str, Any] = {
        "seq": seq,
        "ts": ts if isinstance(ts, int) else datetime_to_ns(ts),
        "kind": kind,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    if key is None:
        return hashlib.sha256(canonical_json(body)).hexdigest()
    body["key_id"] = key.key_id
    return key.sign(canonical_json(body))


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Something to record, before it gets its place (seq) in the chain."""

    kind: str
    ts: datetime
    payload: dict[str, Any]


class AuditChain:
    """Appends events, assigning ``seq`` and linking hashes, keyed when given a key."""

    def __init__(
        self, next_seq: int = 0, prev_hash: str = GENESIS_HASH, key: AuditKey | None = None
    ) -> None:
        if next_seq < 0:
            raise ValueError(f"next_seq must be ≥ 0, got {next_seq}")
        self.next_seq = next_seq
        self.prev_hash = prev_hash
        self.key = key

    @classmethod
    def after(cls, head: tuple[int, str] | None, key: AuditKey | None = None) -> AuditChain:
        """A chain continuing after ``head`` = (seq, hash) of the last record (None: empty)."""
        return cls(key=key) if head is None else cls(head[0] + 1, head[1], key)

    def append(self, event: AuditEvent) -> AuditRecord:
        # The payload is normalised through its canonical JSON so the stored record and the
        # hashed bytes are the same thing (e.g. a NaN becomes null in both).
        payload = orjson.loads(canonical_json(event.payload))
        ts_ns = datetime_to_ns(event.ts)
        digest = record_hash(self.next_seq, ts_ns, event.kind, payload, self.prev_hash, self.key)
        record = AuditRecord(
            seq=self.next_seq,
            ts=event.ts,
            ts_ns=ts_ns,
            kind=event.kind,
            payload=payload,
            prev_hash=self.prev_hash,
            hash=digest,
            key_id=None if self.key is None else self.key.key_id,
        )
        self.next_seq += 1
        self.prev_hash = digest
        return record


class KeyRequiredError(ValueError):
    """The chain is keyed and verification was not given that key."""


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of a verification: ``bad_seq`` names the first bad record, ``reason`` why;
    ``findings`` are failures not tied to one record (e.g. the ledger cross-check), ``notes``
    say what the verification could not cover."""

    checked: int
    last_seq: int | None
    bad_seq: int | None = None
    bad_kind: str | None = None
    reason: str | None = None
    key_id: str | None = None
    anchored_seq: int | None = None
    findings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.bad_seq is None and not self.findings

    @property
    def mode(self) -> str:
        if self.key_id is None:
            return "unkeyed (sha256)"
        return f"keyed (HMAC-SHA256, key {self.key_id})"

    @property
    def message(self) -> str:
        if self.bad_seq is not None:
            kind = f" ({self.bad_kind})" if self.bad_kind else ""
            return f"record {self.bad_seq}{kind}: {self.reason}"
        if self.findings:
            return "; ".join(self.findings)
        last = "empty" if self.last_seq is None else f"records 0..{self.last_seq}"
        return f"audit chain intact: {self.checked} records ({last}), {self.mode}"


def verify_chain(
    records: Iterable[AuditRecord],
    head: tuple[int, str] | None,
    key: AuditKey | None = None,
    anchor: tuple[int, str] | None = None,
) -> VerifyResult:
    """Check ``records`` (read in ascending ``seq``) against each other, the ``head`` and the
    ``anchor`` = (seq, hash) of the latest checkpoint kept outside the store.

    With ``key`` every record must be keyed with it (an unkeyed record could have been written
    by anyone); without it a keyed record raises :class:`KeyRequiredError`. Times are compared
    in exact nanoseconds (``ts_ns``).
    """
    prev_hash, checked = GENESIS_HASH, 0
    last_seq: int | None = None
    key_id = None if key is None else key.key_id

    def bad(seq: int, reason: str, kind: str | None = None) -> VerifyResult:
        return VerifyResult(checked, last_seq, seq, kind, reason, key_id)

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
        if rec.key_id is not None and key is None:
            raise KeyRequiredError(
                f"record {rec.seq} is keyed with audit key {rec.key_id}: verifying needs that key"
            )
        if key is not None and rec.key_id != key.key_id:
            written = "without a key" if rec.key_id is None else f"with key {rec.key_id}"
            return bad(
                rec.seq,
                f"written {written}, not with the configured key {key.key_id}: "
                "anyone with write access to the store could have written it",
                rec.kind,
            )
        ts = rec.ts_ns if rec.ts_ns is not None else datetime_to_ns(rec.ts)
        expected = record_hash(rec.seq, ts, rec.kind, rec.payload, rec.prev_hash, key)
        if expected != rec.hash or datetime_to_ns(rec.ts) != ts - ts % 1000:
            return bad(rec.seq, "content does not match its hash: the record was edited", rec.kind)
        if anchor is not None and rec.seq == anchor[0] and rec.hash != anchor[1]:
            return bad(
                rec.seq,
                "hash differs from the checkpoint kept outside the store: the chain up to "
                "here was rewritten",
                rec.kind,
            )
        prev_hash, last_seq = rec.hash, rec.seq
        checked = expected_seq + 1
    if anchor is not None and (last_seq is None or last_seq < anchor[0]):
        return bad(
            0 if last_seq is None else last_seq + 1,
            f"truncated: the checkpoint kept outside the store records seq {anchor[0]} but "
            f"the chain ends at {'nothing' if last_seq is None else last_seq}",
        )
    if head is None:
        if last_seq is not None:
            return bad(last_seq, "the head row is missing: it must record the last seq and hash")
        return VerifyResult(checked, last_seq, key_id=key_id)
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
    anchored = None if anchor is None else anchor[0]
    return VerifyResult(checked, last_seq, key_id=key_id, anchored_seq=anchored)
