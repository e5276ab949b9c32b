"""Control-room versions in the store: every accepted change is version N, audited, revertible.

Tables (on the shared :data:`~connectors.store.engine.metadata`):

* ``control_versions``: one row per version — ``version`` (primary key), ``change_id`` (unique:
  the request's idempotency key, so a retried request records one version), who, why, when,
  through which channel, the complete overrides in force from then on and the diff;
* ``control_applied``: what running flows made of each version (applied or refused, and why).

A change is validated (:mod:`operators.control.settings`), then its ``control_change`` audit
record and its version row are written in one transaction: both or neither. The audit log is
the flows' inbox (:mod:`connectors.store.inbox`), so a running flow applies the version at its
next poll. A revert to version N records a new version whose overrides are N's.

>>> from datetime import UTC, datetime
>>> from connectors.audit.config import AuditTrust
>>> from connectors.store.engine import open_store
>>> from operators.fusion.config import FusionConfig
>>> from operators.risk.config import RiskConfig
>>> from schemas.control import ControlChange
>>> engine = open_store("sqlite://")
>>> base = ControlBase(FusionConfig(), RiskConfig(), ("rules:a",))
>>> t, trust = datetime(2026, 1, 1, tzinfo=UTC), AuditTrust()
>>> v1 = record_change(engine, base, ControlChange(fusion={"open_above": 0.8}), actor="ana",
...                    reason="fewer entries", via="cli", now=t, trust=trust)
>>> v2 = revert_to(engine, base, 0, actor="bo", reason="back", via="cli", now=t, trust=trust)
>>> [(v.version, v.actor, v.overrides.fusion, v.reverts_to) for v in read_versions(engine)]
[(1, 'ana', {'open_above': 0.8}, None), (2, 'bo', {}, 0)]
>>> [(c.path, c.before, c.after) for c in v2.diff]
[('fusion.open_above', 0.8, 0.7)]
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import BigInteger, Boolean, Column, String, Table, Text, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from connectors.audit.config import AuditTrust
from connectors.store.audit import AuditConflictError, _begin, append_events
from connectors.store.engine import metadata, upsert
from connectors.store.sink import register_writer
from operators.audit.chain import AuditEvent
from operators.control.settings import ControlBase, ControlError, apply_change, diff, settings_for
from schemas.common import datetime_to_ns, ns_to_datetime
from schemas.control import (
    ControlApplied,
    ControlChange,
    ControlOverrides,
    ControlUpdate,
    ControlVersion,
)
from schemas.records import AuditRecord

CONTROL_CHANGE_KIND = "control_change"
"""Audit kind of an accepted change; its payload carries the :class:`ControlUpdate`."""

_ATTEMPTS = 10
"""Appends tried before giving up: each lost race means another person's change went in."""

control_versions = Table(
    "control_versions",
    metadata,
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    Column("change_id", String(64), nullable=False, unique=True),
    Column("ts", BigInteger, nullable=False, comment="ns since the epoch (UTC)"),
    Column("actor", String(128), nullable=False),
    Column("via", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("overrides", Text, nullable=False, comment="JSON: the overrides in force"),
    Column("diff", Text, nullable=False, comment="JSON: the effective values it changed"),
    Column("reverts_to", BigInteger, comment="the version it restored, if a revert"),
    Column("audit_seq", BigInteger, nullable=False),
)

control_applied = Table(
    "control_applied",
    metadata,
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    Column("applied", Boolean, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("detail", Text, nullable=False),
    Column("ts", BigInteger, nullable=False, comment="ns since the epoch (UTC)"),
)


def append_audited(
    engine: Engine,
    event: AuditEvent | Callable[[Connection], AuditEvent],
    trust: AuditTrust | None = None,
    also: Callable[[Connection, AuditRecord], None] | None = None,
) -> AuditRecord:
    """Append ``event`` to the audit log (and run ``also`` in the same transaction), retrying
    when another writer appended between our read of the head and our insert.

    ``event`` may be a function of the transaction's connection: it is built again on each
    attempt, from what the store holds then (e.g. the next version number).
    """
    trust = trust if trust is not None else AuditTrust.for_engine(engine)
    for attempt in itertools.count(1):
        try:
            with engine.begin() as conn:
                built = event(conn) if callable(event) else event
                (record,) = append_events(conn, [built], trust.key)
                if also is not None:
                    also(conn, record)
        except (AuditConflictError, IntegrityError):
            if attempt == _ATTEMPTS:
                raise
            continue
        trust.checkpoint((record.seq, record.hash))
        return record
    raise RuntimeError  # pragma: no cover - itertools.count never ends


def _version_of(row: Any) -> ControlVersion:
    return ControlVersion(
        version=row.version,
        change_id=row.change_id,
        actor=row.actor,
        via=row.via,
        reason=row.reason,
        ts=ns_to_datetime(row.ts),
        overrides=ControlOverrides.model_validate_json(row.overrides),
        diff=orjson.loads(row.diff),
        reverts_to=row.reverts_to,
    )


def read_versions(conn_or_engine: Connection | Engine) -> list[ControlVersion]:
    """Every version, oldest first."""
    with _begin(conn_or_engine) as conn:
        rows = conn.execute(select(control_versions).order_by(control_versions.c.version)).all()
    return [_version_of(row) for row in rows]


def latest_version(conn_or_engine: Connection | Engine) -> ControlVersion | None:
    """The version in force (None: no change was ever made on this store)."""
    with _begin(conn_or_engine) as conn:
        row = conn.execute(
            select(control_versions).order_by(control_versions.c.version.desc()).limit(1)
        ).first()
    return None if row is None else _version_of(row)


def current_update(conn_or_engine: Connection | Engine, now: datetime) -> ControlUpdate:
    """The version in force as the inbox hands it to a starting flow (version 0: none)."""
    latest = latest_version(conn_or_engine)
    if latest is None:
        return ControlUpdate(version=0, ts=now)
    return to_update(latest)


def to_update(version: ControlVersion) -> ControlUpdate:
    return ControlUpdate(
        version=version.version,
        overrides=version.overrides,
        actor=version.actor,
        reason=version.reason,
        ts=version.ts,
    )


def read_applied(conn_or_engine: Connection | Engine) -> dict[int, ControlApplied]:
    """What running flows made of each version, by version."""
    with _begin(conn_or_engine) as conn:
        rows = conn.execute(select(control_applied)).all()
    return {
        row.version: ControlApplied(
            version=row.version,
            applied=row.applied,
            actor=row.actor,
            detail=row.detail,
            ts=ns_to_datetime(row.ts),
        )
        for row in rows
    }


def record_change(
    engine: Engine,
    base: ControlBase,
    change: ControlChange,
    *,
    actor: str,
    reason: str,
    via: str,
    now: datetime,
    change_id: str | None = None,
    trust: AuditTrust | None = None,
) -> ControlVersion:
    """Validate ``change`` against ``base`` and the version in force, and record it as the
    next version (audited). A ``change_id`` already recorded returns that version unchanged."""
    return _record(
        engine,
        base,
        lambda current: apply_change(base, current, change),
        actor=actor,
        reason=reason,
        via=via,
        now=now,
        change_id=change_id,
        reverts_to=None,
        trust=trust,
    )


def revert_to(
    engine: Engine,
    base: ControlBase,
    target: int,
    *,
    actor: str,
    reason: str,
    via: str,
    now: datetime,
    change_id: str | None = None,
    trust: AuditTrust | None = None,
) -> ControlVersion:
    """Record a new version restoring version ``target``'s values (0: the configuration file)."""
    if target == 0:
        restored = ControlOverrides()
    else:
        found = [v for v in read_versions(engine) if v.version == target]
        if not found:
            raise ControlError(f"version: no version {target} to revert to")
        restored = found[0].overrides

    def restore(current: ControlOverrides) -> ControlOverrides:
        if current == restored:
            raise ControlError(f"version {target}'s values are already in force")
        return restored

    return _record(
        engine,
        base,
        restore,
        actor=actor,
        reason=reason,
        via=via,
        now=now,
        change_id=change_id,
        reverts_to=target,
        trust=trust,
    )


def _record(
    engine: Engine,
    base: ControlBase,
    next_overrides: Callable[[ControlOverrides], ControlOverrides],
    *,
    actor: str,
    reason: str,
    via: str,
    now: datetime,
    change_id: str | None,
    reverts_to: int | None,
    trust: AuditTrust | None,
) -> ControlVersion:
    change_id = change_id or f"control-{uuid.uuid4().hex[:16]}"
    made: list[ControlVersion] = []  # what the last attempt built (or found)

    def build(conn: Connection) -> AuditEvent:
        made.clear()
        existing = conn.execute(
            select(control_versions).where(control_versions.c.change_id == change_id)
        ).first()
        if existing is not None:
            made.append(_version_of(existing))
            raise _AlreadyRecordedError
        current = latest_version(conn)
        before = ControlOverrides() if current is None else current.overrides
        after = next_overrides(before)
        version = ControlVersion(
            version=1 if current is None else current.version + 1,
            change_id=change_id,
            actor=actor,
            via=via,
            reason=reason.strip(),
            ts=now,
            overrides=after,
            diff=tuple(diff(settings_for(base, before), settings_for(base, after))),
            reverts_to=reverts_to,
        )
        made.append(version)
        payload = {
            **version.model_dump(mode="json", exclude={"overrides", "diff"}),
            "diff": [c.model_dump(mode="json") for c in version.diff],
            "update": to_update(version).model_dump(mode="json"),
        }
        return AuditEvent(CONTROL_CHANGE_KIND, now, payload)

    def insert(conn: Connection, record: AuditRecord) -> None:
        (version,) = made
        conn.execute(
            control_versions.insert().values(
                version=version.version,
                change_id=version.change_id,
                ts=datetime_to_ns(version.ts),
                actor=version.actor,
                via=version.via,
                reason=version.reason,
                overrides=version.overrides.model_dump_json(),
                diff=orjson.dumps([c.model_dump(mode="json") for c in version.diff]).decode(),
                reverts_to=version.reverts_to,
                audit_seq=record.seq,
            )
        )

    with contextlib.suppress(_AlreadyRecordedError):  # a retried request: its first version
        append_audited(engine, build, trust, insert)
    return made[0]


class _AlreadyRecordedError(Exception):
    """The request's ``change_id`` is already a version: nothing to write."""


def _write_applied(conn: Connection, items: list[ControlApplied], run_id: str) -> int:
    rows = [
        {
            "version": item.version,
            "applied": item.applied,
            "actor": item.actor,
            "detail": item.detail,
            "ts": datetime_to_ns(item.ts),
        }
        for item in items
    ]
    return upsert(conn, control_applied, rows, ["version"])


register_writer(ControlApplied, _write_applied)
