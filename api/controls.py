"""What people can reach in a running flow: the kill switch, closing a position by hand, and
the control room's configuration, each audited with who and why.

A person (CLI, API with the ``trading:control`` scope, dashboard) records a
``trading_control`` audit record whose payload carries the trading core's
:class:`~schemas.operations.ManualAction` (``set_trading_state``). The audit log doubles as the
inbox (:mod:`connectors.store.inbox`), so a running flow picks the action up at its next poll
and the trading core applies it in the batch it arrives with, at its current time: ``halt``
cancels working orders and refuses new entries, ``reduce`` lets positions only shrink,
``resume`` trades again (breakers that tripped on their own still hold). A hand close
(``position_close``) sends a reduce-only order for the whole position through the guards and
the router, at once, audited as a manual action with its outcome. Configuration changes
(scope ``control``) are versions of :mod:`connectors.store.control`, validated against the
run's configuration (:func:`control_base`).

>>> from datetime import UTC, datetime
>>> from connectors.audit.config import AuditTrust
>>> from connectors.store.engine import open_store
>>> engine = open_store("sqlite://")
>>> outcome = set_trading_state(engine, "halt", actor="ana", reason="exchange incident",
...                             via="api:k1", now=datetime(2026, 1, 1, tzinfo=UTC),
...                             trust=AuditTrust())
>>> outcome.action.state.value, outcome.audit.kind, outcome.audit.payload["actor"]
('halted', 'trading_control', 'ana')
>>> closed = close_position(engine, "BTC/USDT", actor="ana", reason="news", via="cli",
...                         now=datetime(2026, 1, 1, tzinfo=UTC), trust=AuditTrust())
>>> closed.action.kind.value, closed.action.portfolio, closed.audit.kind
('close_position', 'default', 'position_close')
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.engine import Engine

from connectors.audit.config import AuditTrust
from connectors.store.control import append_audited
from connectors.store.inbox import POSITION_CLOSE_KIND
from operators.audit.chain import AuditEvent
from operators.control.settings import ControlBase
from schemas.common import DEFAULT_PORTFOLIO
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
    record = append_audited(engine, AuditEvent(CONTROL_KIND, now, payload), trust)
    return ControlOutcome(action, record)


def close_position(
    engine: Engine,
    asset: str,
    *,
    actor: str,
    reason: str,
    via: str,
    now: datetime,
    portfolio: str = DEFAULT_PORTFOLIO,
    trust: AuditTrust | None = None,
) -> ControlOutcome:
    """Record closing ``asset``'s position in ``portfolio`` by hand, for running flows to do."""
    asset = asset.strip()
    if not asset:
        raise ValueError("asset must name an instrument, e.g. BTC/USDT")
    action = ManualAction(
        action_id=f"close-{uuid.uuid4().hex[:16]}",
        kind=ManualActionKind.CLOSE_POSITION,
        actor=actor,
        ts=now,
        asset=asset,
        reason=reason.strip(),
        portfolio=portfolio,
    )
    payload = {
        "command": "close",
        "asset": asset,
        "portfolio": portfolio,
        "actor": actor,
        "reason": action.reason,
        "via": via,
        "action": action.model_dump(mode="json"),
    }
    record = append_audited(engine, AuditEvent(POSITION_CLOSE_KIND, now, payload), trust)
    return ControlOutcome(action, record)


@functools.lru_cache(maxsize=8)
def control_base(config_path: str | None = None) -> ControlBase:
    """What configuration changes are validated against: the run's configuration file (the
    flows' ``--config``; None: the shipped defaults). Running flows validate again against
    their own and refuse, audited, what does not fit."""
    from flows.config import load_config

    return ControlBase.of(load_config(config_path))
