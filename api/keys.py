"""API keys: created once, shown once, stored only as a salted hash, each with its scopes.

A key reads ``qk_<key_id>_<secret>``: ``key_id`` (12 hex digits) finds the row, ``secret``
(32 random bytes, URL-safe base64) is checked against ``sha256(salt ‖ secret)`` in constant
time. The secret carries 256 bits of entropy, so a fast salted hash is as strong as a slow
password hash here and keeps every request cheap. The plaintext key is returned by
:func:`create_key` and never stored or logged.

Scopes: ``signals:read`` (signals, review list, portfolio, health, metrics), ``review``
(approve/reject), ``trading:control`` (kill switch, closing a position by hand), ``control``
(changing a running flow's configuration), ``admin`` (audit log; implies every other scope).

>>> from connectors.store.engine import open_store
>>> engine = open_store("sqlite://")
>>> created = create_key(engine, "ana", [Scope.SIGNALS_READ, Scope.REVIEW])
>>> created.key.startswith(f"qk_{created.key_id}_")
True
>>> found = authenticate(engine, created.key)
>>> found.owner, sorted(s.value for s in found.scopes), found.allows(Scope.ADMIN)
('ana', ['review', 'signals:read'], False)
>>> authenticate(engine, created.key[:-1] + "x") is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Column, String, Table, select, update
from sqlalchemy.engine import Connection, Engine

from connectors.store.engine import metadata

KEY_PREFIX = "qk"
_KEY_PATTERN = re.compile(r"^qk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_OWNER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@:-]{0,63}$")


class Scope(StrEnum):
    """What a key may do."""

    SIGNALS_READ = "signals:read"
    REVIEW = "review"
    TRADING_CONTROL = "trading:control"
    ADMIN = "admin"
    CONTROL = "control"
    """Change a running flow's configuration: fusion weights and bands, sources, risk limits."""


api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(12), primary_key=True),
    Column("owner", String(64), nullable=False, comment="who uses the key: audited as the actor"),
    Column("salt", String(32), nullable=False, comment="16 random bytes, hex"),
    Column("key_hash", String(64), nullable=False, comment="sha256(salt ‖ secret), hex"),
    Column("scopes", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False, comment="ns since the epoch (UTC)"),
    Column("revoked_at", BigInteger, comment="ns; a revoked key never authenticates again"),
)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An authenticated key: who owns it and what it may do."""

    key_id: str
    owner: str
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        """``admin`` allows everything; otherwise the scope must be granted explicitly."""
        return Scope.ADMIN in self.scopes or scope in self.scopes


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key. ``key`` is the only copy of the plaintext: hand it over, then forget it."""

    key_id: str
    owner: str
    scopes: frozenset[Scope]
    key: str = field(repr=False)  # the plaintext: shown once, never logged


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A stored key as listed for administrators (no secret, no hash)."""

    key_id: str
    owner: str
    scopes: tuple[str, ...]
    created_at_ns: int
    revoked: bool


def _digest(salt_hex: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt_hex) + secret.encode("ascii")).hexdigest()


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """Scope names → scopes, with an error naming the unknown one and the accepted ones.

    >>> sorted(parse_scopes(["review", "signals:read"]))
    [<Scope.REVIEW: 'review'>, <Scope.SIGNALS_READ: 'signals:read'>]
    >>> parse_scopes(["root"])
    Traceback (most recent call last):
    ...
    ValueError: unknown scope 'root'; expected any of signals:read, review, ..., control
    """
    scopes = set()
    for value in values:
        try:
            scopes.add(Scope(value))
        except ValueError:
            allowed = ", ".join(s.value for s in Scope)
            raise ValueError(f"unknown scope {value!r}; expected any of {allowed}") from None
    if not scopes:
        raise ValueError("a key needs at least one scope")
    return frozenset(scopes)


def create_key(
    conn_or_engine: Connection | Engine, owner: str, scopes: Iterable[Scope | str]
) -> CreatedKey:
    """Create a key for ``owner`` with ``scopes``; the plaintext is in the result only."""
    if not _OWNER_PATTERN.match(owner):
        raise ValueError(
            f"owner {owner!r} must be 1-64 characters: letters, digits, space and ._@:- "
            "(starting with a letter or digit)"
        )
    granted = parse_scopes(str(s) for s in scopes)
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    row = {
        "key_id": key_id,
        "owner": owner,
        "salt": salt,
        "key_hash": _digest(salt, secret),
        "scopes": sorted(s.value for s in granted),
        "created_at": time.time_ns(),
        "revoked_at": None,
    }
    _execute(conn_or_engine, api_keys.insert().values(**row))
    return CreatedKey(key_id, owner, granted, f"{KEY_PREFIX}_{key_id}_{secret}")


def authenticate(conn_or_engine: Connection | Engine, presented: str) -> ApiKey | None:
    """The key ``presented`` belongs to, or ``None`` (malformed, unknown, wrong or revoked)."""
    match = _KEY_PATTERN.match(presented)
    if match is None:
        return None
    key_id, secret = match.groups()
    stmt = select(api_keys).where(api_keys.c.key_id == key_id)
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            row = conn.execute(stmt).first()
    else:
        row = conn_or_engine.execute(stmt).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(_digest(row.salt, secret), row.key_hash):
        return None
    scopes = frozenset(Scope(s) for s in row.scopes if s in Scope._value2member_map_)
    return ApiKey(row.key_id, row.owner, scopes)


def revoke_key(conn_or_engine: Connection | Engine, key_id: str) -> bool:
    """Revoke a key for good; ``False`` when no active key has that id."""
    stmt = (
        update(api_keys)
        .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=time.time_ns())
    )
    return _execute(conn_or_engine, stmt) == 1


def list_keys(conn_or_engine: Connection | Engine) -> list[KeyInfo]:
    """Every stored key, oldest first, without secrets."""
    stmt = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id)
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            rows = conn.execute(stmt).all()
    else:
        rows = conn_or_engine.execute(stmt).all()
    return [
        KeyInfo(r.key_id, r.owner, tuple(r.scopes), int(r.created_at), r.revoked_at is not None)
        for r in rows
    ]


def _execute(conn_or_engine: Connection | Engine, stmt: object) -> int:
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.begin() as conn:
            return conn.execute(stmt).rowcount  # type: ignore[call-overload]
    return conn_or_engine.execute(stmt).rowcount  # type: ignore[call-overload]
