"""The audit key: an HMAC-SHA256 secret that makes the chain and its checkpoints unforgeable.

Without the key the chain is plain SHA-256: anyone who can write the store can recompute every
hash after an edit. With it, a record's hash is an HMAC only a key holder can produce, and
checkpoints of the head are signed the same way. The key is known by its id, a short digest
of the secret (never the secret), which every keyed record and checkpoint carries so verify
can say which key signed what. The secret never appears in a repr, log or error.

>>> key = AuditKey.from_secret(b"k" * 32)
>>> key.key_id, len(key.sign(b"message"))
('a1eec8d9c2b8e7a1', 64)
>>> "kkkk" in repr(key)
False
>>> AuditKey.from_secret(b"short")
Traceback (most recent call last):
...
ValueError: the audit key must be at least 32 bytes (got 5): use e.g. `openssl rand -hex 32`
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

MIN_KEY_BYTES = 32
_KEY_ID_DOMAIN = b"quorum.audit.key-id\x00"


@dataclass(frozen=True, slots=True)
class AuditKey:
    """An HMAC-SHA256 key and its public id (16 hex digits of a digest of the secret)."""

    key_id: str
    secret: bytes = field(repr=False)

    @classmethod
    def from_secret(cls, secret: bytes) -> AuditKey:
        if len(secret) < MIN_KEY_BYTES:
            raise ValueError(
                f"the audit key must be at least {MIN_KEY_BYTES} bytes (got {len(secret)}): "
                "use e.g. `openssl rand -hex 32`"
            )
        return cls(hashlib.sha256(_KEY_ID_DOMAIN + secret).hexdigest()[:16], secret)

    def sign(self, message: bytes) -> str:
        """HMAC-SHA256 of ``message`` (hex)."""
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def matches(self, message: bytes, signature: str) -> bool:
        """Whether ``signature`` is this key's signature of ``message`` (constant time)."""
        return hmac.compare_digest(self.sign(message), signature)
