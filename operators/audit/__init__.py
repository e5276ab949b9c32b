"""The tamper-evident audit log: a sha256 hash chain over canonical JSON, its verification,
and which records it keeps (with the Bytewax step that sends them to the chain sink).

>>> from operators.audit import GENESIS_HASH
>>> len(GENESIS_HASH)
64
"""

from operators.audit.chain import (
    GENESIS_HASH,
    AuditChain,
    AuditEvent,
    VerifyResult,
    canonical_json,
    record_hash,
    verify_chain,
)
from operators.audit.events import audit_trail, audited_kinds, register_audit_kind, to_audit_event

__all__ = [
    "GENESIS_HASH",
    "AuditChain",
    "AuditEvent",
    "VerifyResult",
    "audit_trail",
    "audited_kinds",
    "canonical_json",
    "record_hash",
    "register_audit_kind",
    "to_audit_event",
    "verify_chain",
]
