"""Pages of the audit log, in chain order, optionally of one kind.

>>> from datetime import UTC, datetime
>>> from connectors.store.audit import append_events
>>> from connectors.store.engine import open_store
>>> from operators.audit.chain import AuditEvent
>>> engine = open_store("sqlite://")
>>> t = datetime(2022, 1, 1, tzinfo=UTC)
>>> _ = append_events(engine, [AuditEvent("fill", t, {"n": i}) for i in range(3)])
>>> with engine.connect() as conn:
...     page = audit_page(conn, after_seq=-1, limit=2)
>>> [r.payload["n"] for r in page.items], page.next_after_seq
([0, 1], 1)
"""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.engine import Connection

from api.models import AuditPage
from connectors.store.audit import audit_log, stored_record


def audit_page(
    conn: Connection, *, after_seq: int, limit: int, kind: str | None = None
) -> AuditPage:
    """Records with ``seq > after_seq`` in chain order (of ``kind`` when given)."""
    conditions = [audit_log.c.seq > after_seq]
    if kind is not None:
        conditions.append(audit_log.c.kind == kind)
    rows = conn.execute(
        select(audit_log).where(*conditions).order_by(audit_log.c.seq).limit(limit)
    ).all()
    items = [stored_record(r) for r in rows]
    if not items:
        return AuditPage(items=[], next_after_seq=None)
    last = items[-1].seq
    more = conn.execute(select(exists().where(*conditions[1:], audit_log.c.seq > last))).scalar()
    return AuditPage(items=items, next_after_seq=last if more else None)


def audit_kinds(conn: Connection) -> list[str]:
    """The kinds present in the log, sorted."""
    stmt = select(audit_log.c.kind).distinct().order_by(audit_log.c.kind)
    return [str(k) for k in conn.execute(stmt).scalars()]
