"""The review inbox: decisions people record (API, dashboard) fed back into a running flow.

The API and the dashboard record an approve/reject as a ``review_decision`` audit record, and
the kill switch (:mod:`api.controls`) a halt/reduce/resume as a ``trading_control`` record;
both payloads carry the trading core's :class:`~schemas.operations.ManualAction`. The audit log is
durable and ordered, so it doubles as the inbox: :class:`ManualActionInbox` polls it for new
decisions (``seq`` above its cursor) and emits the actions into the flow, where the trading core
carries them out (an approved review trades) and audits the result. The snapshot is the cursor,
so a resumed flow neither loses nor repeats a decision.

>>> import tempfile
>>> from datetime import UTC, datetime
>>> from pathlib import Path
>>> from connectors.store.audit import append_events
>>> from connectors.store.engine import open_store
>>> from operators.audit.chain import AuditEvent
>>> workdir = tempfile.TemporaryDirectory()
>>> url = str(Path(workdir.name) / "store.sqlite")
>>> engine = open_store(url)
>>> action = {"action_id": "review-f1", "kind": "approve_review", "actor": "ana",
...           "ts": "2022-01-01T00:00:00Z", "fused_id": "f1"}
>>> _ = append_events(engine, [AuditEvent("review_decision", datetime(2022, 1, 1, tzinfo=UTC),
...                                       {"action": action})])
>>> part = ManualActionInbox(url, start_after=-1).build_part("inbox", "inbox", None)
>>> [(a.kind.value, a.fused_id, a.actor) for a in part.next_batch()], part.snapshot()
([('approve_review', 'f1', 'ana')], 0)
>>> part.close(); engine.dispose(); workdir.cleanup()
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import orjson
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from pydantic import ValidationError
from sqlalchemy import select

from connectors.store.audit import audit_log, read_head
from connectors.store.engine import open_store
from schemas.operations import ManualAction

logger = logging.getLogger(__name__)

REVIEW_DECISION_KIND = "review_decision"
TRADING_CONTROL_KIND = "trading_control"
INBOX_KINDS = (REVIEW_DECISION_KIND, TRADING_CONTROL_KIND)
"""Audit kinds whose payload carries a person's ``action`` for the trading core."""


class _InboxPartition(StatefulSourcePartition[ManualAction, int]):
    def __init__(self, url: str, cursor: int, poll_seconds: float, deadline: float | None) -> None:
        self._engine = open_store(url)
        self._cursor = cursor
        self._poll = timedelta(seconds=poll_seconds)
        self._deadline = deadline
        self._next_poll = datetime.now(UTC)
        self._polled = False

    def next_batch(self) -> list[ManualAction]:
        # The log is always read at least once, so ``run_for=0`` means "what is there now".
        if self._polled and self._deadline is not None and time.monotonic() >= self._deadline:
            raise StopIteration
        self._polled = True
        self._next_poll = datetime.now(UTC) + self._poll
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(audit_log.c.seq, audit_log.c.payload)
                .where(audit_log.c.seq > self._cursor, audit_log.c.kind.in_(INBOX_KINDS))
                .order_by(audit_log.c.seq)
            ).all()
        actions: list[ManualAction] = []
        for row in rows:
            self._cursor = int(row.seq)
            try:
                payload = ManualAction.model_validate_json(_action_json(row.payload))
            except (ValidationError, ValueError) as exc:
                logger.warning("review decision at seq %s has no usable action: %s", row.seq, exc)
                continue
            actions.append(payload)
        return actions

    def next_awake(self) -> datetime | None:
        return self._next_poll

    def snapshot(self) -> int:
        return self._cursor

    def close(self) -> None:
        self._engine.dispose()


def _action_json(payload_text: str) -> str:
    payload = orjson.loads(payload_text)
    if not isinstance(payload, dict) or "action" not in payload:
        raise ValueError("payload has no 'action'")
    return orjson.dumps(payload["action"]).decode()


class ManualActionInbox(FixedPartitionedSource[ManualAction, int]):
    """Poll the store's audit log for people's actions (review decisions, trading controls) and
    emit them as ``ManualAction`` items.

    :arg url: Store path or URL (the one the API and dashboard write to).
    :arg start_after: Audit ``seq`` after which decisions count; default: the head when the
        flow starts (decisions taken before belong to earlier runs).
    :arg poll_seconds: How often the log is read.
    :arg run_for: Seconds after which the source ends (``None``: never; a live run with a
        ``--duration`` passes it so the flow can finish); the log is read at least once.
    """

    def __init__(
        self,
        url: str,
        *,
        start_after: int | None = None,
        poll_seconds: float = 1.0,
        run_for: float | None = None,
    ) -> None:
        if poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be positive, got {poll_seconds}")
        self.url = url
        self.poll_seconds = poll_seconds
        self.run_for = run_for
        if start_after is None:
            engine = open_store(url)
            head = read_head(engine)
            engine.dispose()
            start_after = -1 if head is None else head[0]
        self.start_after = start_after

    def list_parts(self) -> list[str]:
        return ["inbox"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _InboxPartition:
        deadline = None if self.run_for is None else time.monotonic() + self.run_for
        cursor = self.start_after if resume_state is None else resume_state
        return _InboxPartition(self.url, cursor, self.poll_seconds, deadline)
