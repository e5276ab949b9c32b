"""The run report's inputs read back from the store, for runs no single process saw whole.

A resumed run (recovery directory) replayed only part of its input in its last process, and
each process of a cluster sees only its share of the records; the store holds the whole run
under its run id (idempotent sinks), so the report is built from there:
trading records by run id, decisions by band from the trading core's closing counters (it sees
every fused signal), dead letters and late trades by run id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from connectors.store.market import dead_letters, late_trades
from connectors.store.trading import load_records
from operators.execution.records import TradingSummary
from operators.portfolio.book import EquityPoint
from schemas.trading import Fill, Order, OrderIntent, RiskDecision

_REPORTED_TYPES = (EquityPoint, Fill, Order, OrderIntent, RiskDecision, TradingSummary)
_FUSED_PREFIX = "fused_"


@dataclass
class StoredRun:
    """What :func:`flows.report.build_report` needs, as stored for one run."""

    events: list[Any] = field(default_factory=list)
    decisions_by_band: dict[str, int] = field(default_factory=dict)
    dead_lettered: int = 0
    late: int = 0


def _count(engine: Engine, table: Any, run_id: str) -> int:
    with engine.connect() as conn:
        stmt = select(func.count()).select_from(table).where(table.c.run_id == run_id)
        return int(conn.execute(stmt).scalar_one())


def load_stored_run(engine: Engine, run_id: str) -> StoredRun:
    """The report inputs of ``run_id`` from the store at ``engine``."""
    events: list[Any] = []
    for record_type in _REPORTED_TYPES:
        events.extend(load_records(engine, record_type, run_id=run_id))
    bands: dict[str, int] = {}
    for summary in (e for e in events if isinstance(e, TradingSummary)):
        for key, value in summary.counters.items():
            if key.startswith(_FUSED_PREFIX):
                band = key.removeprefix(_FUSED_PREFIX)
                bands[band] = bands.get(band, 0) + int(value)
    return StoredRun(
        events=events,
        decisions_by_band=dict(sorted(bands.items())),
        dead_lettered=_count(engine, dead_letters, run_id),
        late=_count(engine, late_trades, run_id),
    )
