"""Which records the audit log keeps, under which kind, stamped with which event time.

Audited: every fused signal, order intent, risk decision, order state, fill, manual action
(with its outcome), trading-state switch and review-queue change. Positions and equity points
are derived from those and are not audited. The payload is the record's JSON form
(``model_dump(mode="json")``: Decimals as exact strings, times as ISO 8601).

>>> from datetime import UTC, datetime
>>> from decimal import Decimal
>>> from schemas.trading import Fill
>>> fill = Fill(fill_id="f1", order_id="o1", asset="A/B", side="buy", quantity=Decimal("0.5"),
...             price=Decimal("100.25"), fee=Decimal("0.05"), ts=datetime(2022, 1, 1, tzinfo=UTC))
>>> event = to_audit_event(fill)
>>> event.kind, event.payload["price"], event.ts.isoformat()
('fill', '100.25', '2022-01-01T00:00:00+00:00')
>>> to_audit_event("not a record") is None
True
"""

from __future__ import annotations

from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.outputs import Sink
from pydantic import BaseModel

from operators.audit.chain import AuditEvent
from operators.divergence import DataQualityEvent
from operators.execution.records import ManualActionResult, ReviewTicket
from operators.risk.state import TradingStateChange
from schemas.control import ControlApplied
from schemas.signals import FusedSignal
from schemas.trading import Fill, Order, OrderIntent, RiskDecision
from schemas.venue import ExecutionComparison, ReconcileIssue, RouteDecision, VenueCommand

AUDIT_KEY = "audit"

_KINDS: dict[type[BaseModel], tuple[str, str]] = {}


def register_audit_kind(record_type: type[BaseModel], kind: str, ts_field: str) -> None:
    """Audit records of ``record_type`` as ``kind``, stamped with their ``ts_field``."""
    if ts_field not in record_type.model_fields:
        raise ValueError(f"{record_type.__name__} has no field {ts_field!r} to stamp audits with")
    _KINDS[record_type] = (kind, ts_field)


def audited_kinds() -> dict[str, str]:
    """Record type name → audit kind, for documentation and the CLI."""
    return {t.__name__: kind for t, (kind, _) in _KINDS.items()}


def to_audit_event(record: Any) -> AuditEvent | None:
    """The audit event of ``record``, or ``None`` when that type is not audited."""
    entry = _KINDS.get(type(record))
    if entry is None:
        return None
    kind, ts_field = entry
    return AuditEvent(kind, getattr(record, ts_field), record.model_dump(mode="json"))


register_audit_kind(FusedSignal, "fused_signal", "timestamp")
register_audit_kind(OrderIntent, "order_intent", "timestamp")
register_audit_kind(RiskDecision, "risk_decision", "timestamp")
register_audit_kind(Order, "order", "updated_at")
register_audit_kind(Fill, "fill", "ts")
register_audit_kind(ManualActionResult, "manual_action", "ts")
register_audit_kind(TradingStateChange, "trading_state", "timestamp")
register_audit_kind(ReviewTicket, "review", "updated_at")
register_audit_kind(VenueCommand, "venue_command", "ts")
register_audit_kind(ReconcileIssue, "reconcile_issue", "ts")
register_audit_kind(RouteDecision, "route_decision", "ts")
register_audit_kind(ExecutionComparison, "execution_comparison", "ts")
register_audit_kind(ControlApplied, "control_applied", "ts")
register_audit_kind(DataQualityEvent, "data_quality", "ts")


@operator
def audit_trail(step_id: str, up: Stream[Any], sink: Sink[tuple[str, AuditEvent]]) -> None:
    """Send the audited records of ``up`` to ``sink`` (an audit-chain sink), in stream order.

    Everything goes to the single key ``"audit"``, so one partition writes the chain
    sequentially; ``up`` should be the trading core's output, whose order is the audit order.
    """
    events = op.filter_map("events", up, to_audit_event)
    keyed = op.key_on("key", events, lambda _event: AUDIT_KEY)
    op.output("write", keyed, sink)
