"""The playbook approval queue: drafted or submitted playbooks waiting for a person.

One row per draft: the YAML and its hash, where it came from, the validation problems (an
invalid draft is kept, never approvable), the evaluation on shipped data, and the decision —
``pending`` → ``approved`` | ``rejected``, with who and when. Every change is also an audit
record (``playbook_draft``, ``playbook_signoff``) in the same transaction.

>>> from datetime import UTC, datetime
>>> from connectors.store.engine import open_store
>>> engine = open_store("sqlite://")
>>> queue = DraftQueue(engine)
>>> t = datetime(2026, 1, 5, tzinfo=UTC)
>>> draft = queue.add(request="long on RSI dips", source="file:a.yaml", yaml="name: a",
...                   yaml_hash="h", name="a", problems=[], evaluation={"signals": 3}, now=t)
>>> queue.get(draft.draft_id).status
'pending'
>>> queue.decide(draft.draft_id, "approved", by="ana", comment="ok", now=t).status
'approved'
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, Column, String, Table, Text, select, update
from sqlalchemy.engine import Engine

from connectors.store.audit import append_events
from connectors.store.engine import metadata
from operators.audit.chain import AuditEvent
from schemas.common import UtcDatetime, datetime_to_ns, ns_to_datetime

playbook_drafts = Table(
    "playbook_drafts",
    metadata,
    Column("draft_id", String(32), primary_key=True),
    Column("name", String(64)),
    Column("request", Text, nullable=False, comment="the person's words (as sent: redacted)"),
    Column("source", String(200), nullable=False, comment="llm:<model> or file:<name>"),
    Column("yaml", Text, nullable=False),
    Column("yaml_hash", String(64), nullable=False),
    Column("problems", Text, nullable=False, comment="JSON list; empty = valid"),
    Column("evaluation", Text, nullable=False, comment="JSON: the draft alone on shipped data"),
    Column("status", String(16), nullable=False, comment="invalid | pending | approved | rejected"),
    Column("created_ns", BigInteger, nullable=False),
    Column("decided_by", String(128)),
    Column("decided_ns", BigInteger),
    Column("comment", Text),
)


class Draft(BaseModel):
    model_config = ConfigDict(frozen=True)

    draft_id: str
    name: str | None
    request: str
    source: str
    yaml: str
    yaml_hash: str
    problems: list[str]
    evaluation: dict[str, Any]
    status: str
    created_at: UtcDatetime
    decided_by: str | None = None
    decided_at: UtcDatetime | None = None
    comment: str | None = None


class DraftDecisionError(ValueError):
    """A sign-off that cannot be given (unknown, invalid or already decided draft)."""


def _draft(row: Any) -> Draft:
    return Draft(
        draft_id=row.draft_id,
        name=row.name,
        request=row.request,
        source=row.source,
        yaml=row.yaml,
        yaml_hash=row.yaml_hash,
        problems=orjson.loads(row.problems),
        evaluation=orjson.loads(row.evaluation),
        status=row.status,
        created_at=ns_to_datetime(row.created_ns),
        decided_by=row.decided_by,
        decided_at=None if row.decided_ns is None else ns_to_datetime(row.decided_ns),
        comment=row.comment,
    )


class DraftQueue:
    """Add, list and decide drafts over one store engine (audited)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine, tables=[playbook_drafts])

    def add(
        self,
        *,
        request: str,
        source: str,
        yaml: str,
        yaml_hash: str,
        name: str | None,
        problems: list[str],
        evaluation: dict[str, Any],
        now: datetime,
    ) -> Draft:
        draft_id = (
            "pbd-"
            + hashlib.sha256(f"{yaml_hash}|{source}|{datetime_to_ns(now)}".encode()).hexdigest()[
                :16
            ]
        )
        row = {
            "draft_id": draft_id,
            "name": name,
            "request": request,
            "source": source,
            "yaml": yaml,
            "yaml_hash": yaml_hash,
            "problems": orjson.dumps(problems).decode(),
            "evaluation": orjson.dumps(evaluation).decode(),
            "status": "invalid" if problems else "pending",
            "created_ns": datetime_to_ns(now),
        }
        with self.engine.begin() as conn:
            conn.execute(playbook_drafts.insert(), [row])
            payload = {k: v for k, v in row.items() if k not in ("yaml", "created_ns")}
            payload["problems"], payload["evaluation"] = problems, evaluation
            append_events(conn, [AuditEvent("playbook_draft", now, payload)])
        return self.get(draft_id)  # type: ignore[return-value]

    def get(self, draft_id: str) -> Draft | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(playbook_drafts).where(playbook_drafts.c.draft_id == draft_id)
            ).first()
        return None if row is None else _draft(row)

    def list(self, status: str | None = None) -> list[Draft]:
        query = select(playbook_drafts).order_by(playbook_drafts.c.created_ns)
        if status is not None:
            query = query.where(playbook_drafts.c.status == status)
        with self.engine.connect() as conn:
            return [_draft(r) for r in conn.execute(query)]

    def decide(self, draft_id: str, status: str, *, by: str, comment: str, now: datetime) -> Draft:
        """Approve or reject a pending draft; the sign-off is audited with who and when."""
        if status not in ("approved", "rejected"):
            raise ValueError(f"status must be approved or rejected, got {status!r}")
        if not by.strip():
            raise DraftDecisionError("a sign-off needs the name of the person giving it")
        with self.engine.begin() as conn:
            row = conn.execute(
                select(playbook_drafts).where(playbook_drafts.c.draft_id == draft_id)
            ).first()
            if row is None:
                raise DraftDecisionError(f"no playbook draft {draft_id!r}")
            if row.status != "pending":
                raise DraftDecisionError(
                    f"draft {draft_id} is {row.status}: only a pending draft can be signed off"
                )
            done = conn.execute(
                update(playbook_drafts)
                .where(
                    playbook_drafts.c.draft_id == draft_id, playbook_drafts.c.status == "pending"
                )
                .values(
                    status=status, decided_by=by, decided_ns=datetime_to_ns(now), comment=comment
                )
            )
            if done.rowcount != 1:
                raise DraftDecisionError(f"draft {draft_id} was decided meanwhile")
            append_events(
                conn,
                [
                    AuditEvent(
                        "playbook_signoff",
                        now,
                        {
                            "draft_id": draft_id,
                            "name": row.name,
                            "yaml_hash": row.yaml_hash,
                            "decision": status,
                            "by": by,
                            "comment": comment,
                        },
                    )
                ],
            )
        return self.get(draft_id)  # type: ignore[return-value]
