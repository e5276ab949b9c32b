"""The ledger against the audit log: every order, fill, review decision and manual action in
the store has its audit record, and every audited one exists in the store.

Deleting the whole audit log (and its head) leaves a consistent, empty chain; the ledger
tables still remember what happened, so the two are compared by id:

=================  =============================  ==========================================
ledger table       id column                      audit records (kind: id in the payload)
=================  =============================  ==========================================
``orders``         ``order_id``                   ``order``: ``order_id``
``fills``          ``fill_id``                    ``fill``: ``fill_id``
``manual_actions`` ``action_id``                  ``manual_action``: ``action.action_id``
``review_queue``   ``fused_id`` (decided ones)    ``review_decision``: ``fused_id`` (a person),
                                                  or ``review`` approved/rejected by the flow's
                                                  own review policy (backtests)
=================  =============================  ==========================================

Ids are compared as sets: two runs over the same data share order ids, so removing the audit
records of one of them is not seen here (the chain and its checkpoints cover that).

>>> from connectors.store.engine import open_store
>>> engine = open_store("sqlite://")
>>> with engine.connect() as conn:
...     ledger_findings(conn)
[]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Column, Table, select
from sqlalchemy.engine import Connection

from connectors.store.audit import audit_log
from connectors.store.signals import review_queue
from connectors.store.trading import fills, manual_actions, orders

_SHOWN = 3
_DECIDED = ("approved", "rejected")


@dataclass(frozen=True, slots=True)
class _Pairing:
    what: str
    table: Table
    id_column: Column[Any]
    kind: str
    audited_id: tuple[str, ...]
    only_decided: bool = False
    settled_by_flow: str | None = None
    """Another audit kind whose decided records also account for a stored row (not the
    other way round: the flow's tickets live in their own table)."""


_PAIRINGS = (
    _Pairing("orders", orders, orders.c.order_id, "order", ("order_id",)),
    _Pairing("fills", fills, fills.c.fill_id, "fill", ("fill_id",)),
    _Pairing(
        "manual actions",
        manual_actions,
        manual_actions.c.action_id,
        "manual_action",
        ("action", "action_id"),
    ),
    _Pairing(
        "review decisions",
        review_queue,
        review_queue.c.fused_id,
        "review_decision",
        ("fused_id",),
        only_decided=True,
        settled_by_flow="review",
    ),
)


def _sample(ids: set[str]) -> str:
    shown = ", ".join(sorted(ids)[:_SHOWN])
    return f"{shown}, …" if len(ids) > _SHOWN else shown


def _at(payload: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(name)
    return payload


def _audited_ids(
    conn: Connection, kind: str, path: tuple[str, ...], decided_only: bool = False
) -> set[str]:
    ids = set()
    rows = conn.execute(select(audit_log.c.payload).where(audit_log.c.kind == kind))
    for (text,) in rows:
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue  # an edited payload: the chain check names that record
        if decided_only and _at(payload, ("status",)) not in _DECIDED:
            continue
        value = _at(payload, path)
        if value is not None:
            ids.add(str(value))
    return ids


def ledger_findings(conn: Connection) -> list[str]:
    """What does not match between the ledger tables and the audit log (empty: all matches)."""
    findings = []
    for pairing in _PAIRINGS:
        query = select(pairing.id_column).distinct()
        if pairing.only_decided:
            query = query.where(review_queue.c.status.in_(_DECIDED))
        stored = {str(value) for (value,) in conn.execute(query)}
        audited = _audited_ids(conn, pairing.kind, pairing.audited_id)
        accounted = set(audited)
        if pairing.settled_by_flow is not None:
            accounted |= _audited_ids(
                conn, pairing.settled_by_flow, pairing.audited_id, decided_only=True
            )
        unaudited, unknown = stored - accounted, audited - stored
        if unaudited:
            findings.append(
                f"{len(unaudited)} {pairing.what} in the store have no audit record "
                f"({_sample(unaudited)}): audit records were deleted"
            )
        if unknown:
            findings.append(
                f"{len(unknown)} audited {pairing.what} are missing from the store "
                f"({_sample(unknown)}): ledger rows were deleted"
            )
    return findings
