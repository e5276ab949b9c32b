"""The live router's records in the store: venue commands, reconciliation issues, routing
decisions, venue-vs-paper comparisons and the venues' price divergences, in one table keyed by
kind and record id.

=============  ============================================  ===============================
kind           record                                        record id
=============  ============================================  ===============================
command        :class:`~schemas.venue.VenueCommand`          ``command_id``
reconcile      :class:`~schemas.venue.ReconcileIssue`        ``venue:order_id:kind``
route          :class:`~schemas.venue.RouteDecision`         ``decision_id``
comparison     :class:`~schemas.venue.ExecutionComparison`   ``order_id``
divergence     :class:`~operators.divergence.DataQualityEvent`  ``symbol:kind:ts_ns``
=============  ============================================  ===============================

>>> from datetime import UTC, datetime
>>> from connectors.store.engine import open_store
>>> from schemas.venue import IssueKind, ReconcileIssue
>>> engine = open_store("sqlite://")
>>> issue = ReconcileIssue(venue="binance", kind=IssueKind.UNKNOWN_ORDER, detail="x",
...                        action="reported", order_id="o9", ts=datetime(2022, 1, 1, tzinfo=UTC))
>>> with engine.begin() as conn:
...     write_venue_records(conn, [issue, issue], "r1")
2
>>> read_venue_records(engine, "reconcile")[0]["order_id"]
'o9'
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import BigInteger, Column, String, Table, Text, select
from sqlalchemy.engine import Connection, Engine

from connectors.store.engine import metadata, upsert
from connectors.store.sink import register_writer
from operators.divergence import DataQualityEvent
from schemas.common import datetime_to_ns
from schemas.venue import ExecutionComparison, ReconcileIssue, RouteDecision, VenueCommand

venue_records = Table(
    "venue_records",
    metadata,
    Column("run_id", String, primary_key=True),
    Column("kind", String, primary_key=True),
    Column("record_id", String, primary_key=True),
    Column("ts_ns", BigInteger, nullable=False),
    Column("payload", Text, nullable=False),
)


def _identity(record: BaseModel) -> tuple[str, str]:
    if isinstance(record, VenueCommand):
        return "command", record.command_id
    if isinstance(record, ReconcileIssue):
        return "reconcile", f"{record.venue}:{record.order_id}:{record.kind.value}"
    if isinstance(record, RouteDecision):
        return "route", record.decision_id
    if isinstance(record, ExecutionComparison):
        return "comparison", record.order_id
    if isinstance(record, DataQualityEvent):
        return "divergence", f"{record.symbol}:{record.kind.value}:{datetime_to_ns(record.ts)}"
    raise TypeError(f"not a venue record: {type(record).__name__}")


def write_venue_records(conn: Connection, items: list[Any], run_id: str) -> int:
    rows = []
    for record in items:
        kind, record_id = _identity(record)
        rows.append(
            {
                "run_id": run_id,
                "kind": kind,
                "record_id": record_id,
                "ts_ns": datetime_to_ns(record.ts),
                "payload": orjson.dumps(record.model_dump(mode="json")).decode(),
            }
        )
    return upsert(conn, venue_records, rows, ["run_id", "kind", "record_id"])


def read_venue_records(
    engine: Engine, kind: str, run_id: str | None = None
) -> list[dict[str, Any]]:
    """The stored records of ``kind`` (payloads as dicts), oldest first."""
    query = select(venue_records.c.payload).where(venue_records.c.kind == kind)
    if run_id is not None:
        query = query.where(venue_records.c.run_id == run_id)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(venue_records.c.ts_ns)).all()
    return [orjson.loads(row.payload) for row in rows]


for _type in (VenueCommand, ReconcileIssue, RouteDecision, ExecutionComparison, DataQualityEvent):
    register_writer(_type, write_venue_records)


class SendJournal:
    """The write-ahead record of the orders a deployment sent: a placement's command row is
    written here *before* it goes to the venue (the same row the flow writes later; upserted).

    After a kill -9 between send and acknowledgement the restarted router may have lost the
    order (its snapshot predates the send); the gateway asks :meth:`knows` and marks the
    venue's reports of such an order ``journaled``, so the router adopts it and books its
    fills instead of reporting a stranger's order.

    >>> from datetime import UTC, datetime
    >>> from connectors.store.engine import open_store
    >>> from schemas.venue import CommandKind
    >>> journal = SendJournal(open_store("sqlite://"), "r1")
    >>> journal.record(VenueCommand(command_id="o1:place", kind=CommandKind.PLACE, venue="v",
    ...     order_id="o1", asset="A/B", notional=0, ts=datetime(2022, 1, 1, tzinfo=UTC)))
    >>> journal.knows("o1"), journal.knows("o2")
    (True, False)
    """

    def __init__(self, engine: Engine, run_id: str) -> None:
        self.engine = engine
        self.run_id = run_id

    def record(self, command: VenueCommand) -> None:
        with self.engine.begin() as conn:
            write_venue_records(conn, [command], self.run_id)

    def knows(self, order_id: str) -> bool:
        table = venue_records.c
        query = select(table.record_id).where(
            table.run_id == self.run_id,
            table.kind == "command",
            table.record_id == f"{order_id}:place",
        )
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None
