"""Each process's share of a multi-process run's flow counters, so process 0 reports them whole.

Every process of a Bytewax cluster counts only the records its own workers saw. When the flow
ends each process writes its counters here (keyed by run and process index, idempotent) and
process 0 waits for every share before it closes the run and writes the report.

>>> from connectors.store.engine import open_store
>>> engine = open_store("sqlite://")
>>> write_share(engine, "r1", 1, {"candles:1m": 3})
>>> write_share(engine, "r1", 0, {"candles:1m": 2, "fills:all": 1})
>>> wait_for_shares(engine, "r1", 2, timeout_s=1.0)
{0: {'candles:1m': 2, 'fills:all': 1}, 1: {'candles:1m': 3}}
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from sqlalchemy import JSON, BigInteger, Column, Integer, String, Table, select
from sqlalchemy.engine import Engine

from connectors.store.engine import metadata, upsert

run_shares = Table(
    "run_shares",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("process_id", Integer, primary_key=True),
    Column("counters", JSON, nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
)


class MissingSharesError(RuntimeError):
    """Some processes of the cluster never wrote their share of the counters."""


def write_share(engine: Engine, run_id: str, process_id: int, counters: Mapping[str, int]) -> None:
    """Record (or overwrite) process ``process_id``'s counters of ``run_id``."""
    row = {
        "run_id": run_id,
        "process_id": process_id,
        "counters": dict(counters),
        "recorded_at": time.time_ns(),
    }
    upsert(engine, run_shares, [row], ("run_id", "process_id"))


def read_shares(engine: Engine, run_id: str) -> dict[int, dict[str, int]]:
    stmt = select(run_shares.c.process_id, run_shares.c.counters).where(
        run_shares.c.run_id == run_id
    )
    with engine.connect() as conn:
        return {int(pid): dict(counters) for pid, counters in conn.execute(stmt)}


def wait_for_shares(
    engine: Engine, run_id: str, processes: int, *, timeout_s: float = 300.0
) -> dict[int, dict[str, int]]:
    """Every process's share, once all ``processes`` wrote one (polled until ``timeout_s``).

    The processes of a cluster end the flow together, so the wait is short; a process that
    died leaves its share missing, which raises :class:`MissingSharesError` naming it.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        shares = read_shares(engine, run_id)
        if len(shares) >= processes:
            return dict(sorted(shares.items()))
        if time.monotonic() > deadline:
            missing = sorted(set(range(processes)) - set(shares))
            raise MissingSharesError(
                f"run {run_id}: processes {missing} wrote no flow counters within {timeout_s:.0f} s"
            )
        time.sleep(0.2)
