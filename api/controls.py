"""The kill switch people can reach: halt, reduce or resume trading, audited with who and why.

A person (CLI, API with the ``trading:control`` scope, dashboard) records a
``trading_control`` audit record whose payload carries the trading core's
:class:`~schemas.operations.ManualAction` (``set_trading_state``). The audit log doubles as the
inbox (:mod:`connectors.store.inbox`), so a running flow picks the action up at its next poll
and the trading core applies it in the batch it arrives with, at its current time: ``halt``
cancels working orders and refuses new entries, ``reduce`` lets positions only shrink,
``resume`` trades again (breakers that tripped on their own still hold).

>>> from datetime import UTC, datetime
>>> from connectors.audit.config import AuditTrust
>>> from connectors.store.engine import open_store
>>> engine = open_store("sqlite://")
>>> outcome = set_trading_state(engine, "halt", actor="ana", reason="exchange incident",
...                             via="api:k1", now=datetime(2026, 1, 1, tzinfo=UTC),
...                             trust=AuditTrust())
>>> outcome.action.state.value, outcome.audit.kind, outcome.audit.payload["actor"]
('halted', 'trading_control', 'ana')
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from connectors.audit.config import AuditTrust
from connectors.store.audit import AuditConflictError, append_events
from operators.audit.chain import AuditEvent
from schemas.operations import ManualAction, ManualActionKind
from schemas.records import AuditRecord
from schemas.trading import TradingState

CONTROL_KIND = "trading_control"
Command = Literal["halt", "reduce", "resume"]
STATES: dict[str, TradingState] = {
    "halt": TradingState.HALTED,
    "reduce": TradingState.REDUCING,
    "resume": TradingState.ACTIVE,
}
_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class ControlOutcome:
    """The recorded action and its audit record."""

    action: ManualAction
    audit: AuditRecord


def set_trading_state(
    engine: Engine,
    command: Command,
    *,
    actor: str,
    reason: str,
    via: str,
    now: datetime,
    trust: AuditTrust | None = None,
) -> ControlOutcome:
    """Record ``command`` by ``actor`` (an authenticated identity) for running flows to apply."""
    state = STATES.get(command)
    if state is None:
        raise ValueError(f"command must be one of {sorted(STATES)}, got {command!r}")
    action = ManualAction(
        action_id=f"control-{uuid.uuid4().hex[:16]}",
        kind=ManualActionKind.SET_TRADING_STATE,
        actor=actor,
        ts=now,
        state=state,
        reason=reason.strip(),
    )
    payload = {
        "command": command,
        "state": state.value,
        "actor": actor,
        "reason": action.reason,
        "via": via,
        "action": action.model_dump(mode="json"),
    }
    trust = trust if trust is not None else AuditTrust.for_engine(engine)
    for attempt in itertools.count(1):
        try:
            with engine.begin() as conn:
                (record,) = append_events(conn, [AuditEvent(CONTROL_KIND, now, payload)], trust.key)
        except (AuditConflictError, IntegrityError):
            if attempt == _ATTEMPTS:
                raise
            continue  # another writer appended between our read of the head and our insert
        trust.checkpoint((record.seq, record.hash))
        return ControlOutcome(action, record)
    raise RuntimeError  # pragma: no cover - itertools.count never ends
