"""The review inbox: decisions people record (API, dashboard) fed back into a running flow.

The API and the dashboard record an approve/reject as a ``review_decision`` audit record, and
the kill switch (:mod:`api.controls`) a halt/reduce/resume as a ``trading_control`` record;
both payloads carry the trading core's :class:`~schemas.operations.ManualAction`. The audit log is
durable and ordered, so it doubles as the inbox: :class:`ManualActionInbox` polls it for new
decisions (``seq`` above its cursor) and emits the actions into the flow, where the trading core
carries them out (an approved review trades) and audits the result. The snapshot is the cursor,
so a resumed flow neither loses nor repeats a decision.

A hand-closed position (``position_close``) travels the same way. The control room's versions
(``control_change``, :mod:`connectors.store.control`) come out as
:class:`~schemas.control.ControlUpdate` items: a flow starting afresh first gets the version in
force (version 0 when none was ever made), then every new one, so it always runs with the
store's settings; a resumed flow continues from its cursor (its steps' state holds the version
it had).

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
>>> first = part.next_batch()
>>> first[0].version, [(a.kind.value, a.fused_id, a.actor) for a in first[1:]], part.snapshot()
(0, [('approve_review', 'f1', 'ana')], 0)
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
from connectors.store.control import CONTROL_CHANGE_KIND, current_update
from connectors.store.engine import open_store
from schemas.control import ControlUpdate
from schemas.operations import ManualAction

logger = logging.getLogger(__name__)

REVIEW_DECISION_KIND = "review_decision"
TRADING_CONTROL_KIND = "trading_control"
POSITION_CLOSE_KIND = "position_close"
INBOX_KINDS = (REVIEW_DECISION_KIND, TRADING_CONTROL_KIND, POSITION_CLOSE_KIND)
"""Audit kinds whose payload carries a person's ``action`` for the trading core."""

InboxItem = ManualAction | ControlUpdate


class _InboxPartition(StatefulSourcePartition[InboxItem, int]):
    def __init__(
        self,
        url: str,
        cursor: int,
        poll_seconds: float,
        deadline: float | None,
        *,
        controls: bool,
        fresh: bool,
    ) -> None:
        self._engine = open_store(url)
        self._cursor = cursor
        self._kinds = (*INBOX_KINDS, CONTROL_CHANGE_KIND) if controls else INBOX_KINDS
        self._announce = controls and fresh
        self._poll = timedelta(seconds=poll_seconds)
        self._deadline = deadline
        self._next_poll = datetime.now(UTC)
        self._polled = False

    def next_batch(self) -> list[InboxItem]:
        # The log is always read at least once, so ``run_for=0`` means "what is there now".
        if self._polled and self._deadline is not None and time.monotonic() >= self._deadline:
            raise StopIteration
        self._polled = True
        self._next_poll = datetime.now(UTC) + self._poll
        items: list[InboxItem] = []
        with self._engine.connect() as conn:
            if self._announce:  # the version in force, before anything newer
                items.append(current_update(conn, datetime.now(UTC)))
                self._announce = False
            rows = conn.execute(
                select(audit_log.c.seq, audit_log.c.kind, audit_log.c.payload)
                .where(audit_log.c.seq > self._cursor, audit_log.c.kind.in_(self._kinds))
                .order_by(audit_log.c.seq)
            ).all()
        for row in rows:
            self._cursor = int(row.seq)
            try:
                items.append(_item_of(row.kind, row.payload))
            except (ValidationError, ValueError) as exc:
                logger.warning("%s at seq %s has no usable item: %s", row.kind, row.seq, exc)
        return items

    def next_awake(self) -> datetime | None:
        return self._next_poll

    def snapshot(self) -> int:
        return self._cursor

    def close(self) -> None:
        self._engine.dispose()


def _item_of(kind: str, payload_text: str) -> InboxItem:
    payload = orjson.loads(payload_text)
    field = "update" if kind == CONTROL_CHANGE_KIND else "action"
    if not isinstance(payload, dict) or field not in payload:
        raise ValueError(f"payload has no {field!r}")
    model = ControlUpdate if kind == CONTROL_CHANGE_KIND else ManualAction
    return model.model_validate(payload[field])


class ManualActionInbox(FixedPartitionedSource[InboxItem, int]):
    """Poll the store's audit log for people's actions (review decisions, trading controls,
    hand-closed positions) and emit them as ``ManualAction`` items, and the control room's
    versions as ``ControlUpdate`` items.

    :arg url: Store path or URL (the one the API and dashboard write to).
    :arg start_after: Audit ``seq`` after which decisions count; default: the head when the
        flow starts (decisions taken before belong to earlier runs).
    :arg poll_seconds: How often the log is read.
    :arg run_for: Seconds after which the source ends (``None``: never; a live run with a
        ``--duration`` passes it so the flow can finish); the log is read at least once.
    :arg controls: Also emit the control room's versions (the flow built by
        :func:`flows.pipeline.build_flow` takes them in); off for a flow without a control step.
    """

    def __init__(
        self,
        url: str,
        *,
        start_after: int | None = None,
        poll_seconds: float = 1.0,
        run_for: float | None = None,
        controls: bool = True,
    ) -> None:
        if poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be positive, got {poll_seconds}")
        self.url = url
        self.poll_seconds = poll_seconds
        self.run_for = run_for
        self.controls = controls
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
        return _InboxPartition(
            self.url,
            cursor,
            self.poll_seconds,
            deadline,
            controls=self.controls,
            fresh=resume_state is None,
        )
