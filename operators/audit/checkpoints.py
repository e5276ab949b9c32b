"""Checkpoints of the audit chain's head: take one, sign it, check it, pick the one to trust.

A checkpoint (:class:`~schemas.records.AuditCheckpoint`) says "at this time the chain held
``count`` records ending in ``head_hash``". Kept outside the store, it is what verify compares
the stored chain with: a chain that is shorter, or whose record ``count - 1`` hashes
differently, was truncated or rewritten even if every link inside the store agrees.

>>> from operators.audit.keys import AuditKey
>>> key = AuditKey.from_secret(b"k" * 32)
>>> cp = take_checkpoint((7, "ab" * 32), written_at_ns=1, key=key)
>>> cp.count, cp.key_id == key.key_id, checkpoint_problem(cp, key) is None
(8, True, True)
>>> forged = cp.model_copy(update={"count": 3})
>>> checkpoint_problem(forged, key)
'signature does not match: forged or edited'
>>> latest_anchor([cp, take_checkpoint((2, "cd" * 32), written_at_ns=2, key=key)], key)
(7, 'abababababababababababababababababababababababababababababababab')
"""

from __future__ import annotations

from collections.abc import Iterable

from operators.audit.chain import GENESIS_HASH, canonical_json
from operators.audit.keys import AuditKey
from schemas.records import AuditCheckpoint


def _body(checkpoint: AuditCheckpoint) -> bytes:
    return canonical_json(checkpoint.model_dump(exclude={"signature"}))


def take_checkpoint(
    head: tuple[int, str] | None, *, written_at_ns: int, key: AuditKey | None
) -> AuditCheckpoint:
    """The checkpoint of ``head`` = (seq, hash) of the last record (None: an empty chain)."""
    count, head_hash = (0, GENESIS_HASH) if head is None else (head[0] + 1, head[1])
    unsigned = AuditCheckpoint(
        count=count,
        head_hash=head_hash,
        written_at_ns=written_at_ns,
        key_id=None if key is None else key.key_id,
    )
    if key is None:
        return unsigned
    return unsigned.model_copy(update={"signature": key.sign(_body(unsigned))})


def checkpoint_problem(checkpoint: AuditCheckpoint, key: AuditKey | None) -> str | None:
    """Why ``checkpoint`` cannot be trusted with ``key`` configured, or None."""
    if key is None:
        return None  # nothing to check it with; the notes say checkpoints are unsigned
    if checkpoint.signature is None:
        return f"unsigned while the audit key {key.key_id} is configured"
    if checkpoint.key_id != key.key_id:
        return f"signed with key {checkpoint.key_id}, not the configured {key.key_id}"
    if not key.matches(_body(checkpoint), checkpoint.signature):
        return "signature does not match: forged or edited"
    return None


def latest_anchor(
    checkpoints: Iterable[AuditCheckpoint], key: AuditKey | None
) -> tuple[int, str] | None:
    """(seq, hash) of the longest trustworthy checkpoint, None when none covers a record."""
    usable = [cp for cp in checkpoints if cp.count > 0 and checkpoint_problem(cp, key) is None]
    if not usable:
        return None
    best = max(usable, key=lambda cp: (cp.count, cp.written_at_ns))
    return best.count - 1, best.head_hash
