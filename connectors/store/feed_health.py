"""Feed health in the store: each connection's latest status and counters, and its transitions.

Live sources report :class:`~schemas.market.FeedHealth` per symbol (a heartbeat every few
seconds, and an event on every change: disconnected, catching up, stale, live again, a gap
filled or skipped). Two tables:

* ``feed_status``: the latest report per ``(run_id, source, symbol)`` (upserted), with the
  feed's running counters (reconnects, gaps filled, rows backfilled, …);
* ``feed_events``: every report that is not a heartbeat, so the transitions stay visible.

Writes are idempotent (keys include the report time), so a replayed batch changes nothing.

>>> from datetime import UTC, datetime
>>> from connectors.store.engine import open_store
>>> from schemas.market import FeedCounters, FeedHealth
>>> engine = open_store("sqlite://")
>>> t = datetime(2024, 1, 1, tzinfo=UTC)
>>> down = FeedHealth(source="binance", symbol="BTC/USDT", status="disconnected", ts=t,
...                   event="status", counters=FeedCounters(reconnects=1))
>>> write_feed_health(engine, "r1", [down, down])
1
>>> with engine.connect() as conn:
...     [(s["symbol"], s["status"], s["counters"]["reconnects"]) for s in latest_status(conn)]
[('BTC/USDT', 'disconnected', 1)]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Double, String, Table, select
from sqlalchemy.engine import Connection, Engine

from connectors.store.engine import metadata, upsert
from schemas.common import datetime_to_ns
from schemas.market import FeedHealth

HEARTBEAT = "heartbeat"

feed_status = Table(
    "feed_status",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("status", String(24), nullable=False),
    Column("ts", BigInteger, nullable=False, comment="report time, ns (wall clock)"),
    Column("silence_s", Double),
    Column("event", String(200), nullable=False),
    Column("counters", JSON, nullable=False),
)

feed_events = Table(
    "feed_events",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("ts", BigInteger, primary_key=True, comment="report time, ns (wall clock)"),
    Column("event", String(200), primary_key=True),
    Column("status", String(24), nullable=False),
    Column("silence_s", Double),
    Column("counters", JSON, nullable=False),
)


def _row(report: FeedHealth, run_id: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "source": report.source,
        "symbol": report.symbol,
        "status": report.status.value,
        "ts": datetime_to_ns(report.ts),
        "silence_s": report.silence_s,
        "event": report.event[:200],
        "counters": report.counters.model_dump(),
    }


def write_feed_health(
    conn_or_engine: Connection | Engine, run_id: str, reports: Iterable[FeedHealth]
) -> int:
    """Store ``reports``: every non-heartbeat as an event, the newest per feed as its status."""
    rows = [_row(r, run_id) for r in reports]
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["source"], row["symbol"])
        if key not in latest or row["ts"] >= latest[key]["ts"]:
            latest[key] = row
    events = list(
        {
            (r["source"], r["symbol"], r["ts"], r["event"]): r
            for r in rows
            if r["event"] != HEARTBEAT
        }.values()
    )
    upsert(conn_or_engine, feed_events, events, ("run_id", "source", "symbol", "ts", "event"))
    keys = ("run_id", "source", "symbol")
    newest = list(latest.values())
    if newest:
        current = _stored_times(conn_or_engine, run_id)
        newest = [r for r in newest if r["ts"] >= current.get((r["source"], r["symbol"]), -1)]
    return upsert(conn_or_engine, feed_status, newest, keys)


def _stored_times(conn_or_engine: Connection | Engine, run_id: str) -> dict[tuple[str, str], int]:
    """Report times already stored, so an older (replayed) report never replaces a newer one."""
    stmt = select(feed_status.c.source, feed_status.c.symbol, feed_status.c.ts).where(
        feed_status.c.run_id == run_id
    )
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            rows = conn.execute(stmt).all()
    else:
        rows = conn_or_engine.execute(stmt).all()
    return {(r.source, r.symbol): int(r.ts) for r in rows}


def latest_status(conn: Connection, run_id: str | None = None) -> list[dict[str, Any]]:
    """The latest report per feed of ``run_id`` (default: the run that reported last)."""
    if run_id is None:
        run_id = conn.execute(
            select(feed_status.c.run_id).order_by(feed_status.c.ts.desc()).limit(1)
        ).scalar_one_or_none()
        if run_id is None:
            return []
    rows = conn.execute(
        select(feed_status)
        .where(feed_status.c.run_id == run_id)
        .order_by(feed_status.c.source, feed_status.c.symbol)
    ).all()
    return [dict(row._mapping) for row in rows]


def recent_events(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    """The newest feed events (transitions, gaps) of every run, newest first."""
    rows = conn.execute(select(feed_events).order_by(feed_events.c.ts.desc()).limit(limit)).all()
    return [dict(row._mapping) for row in rows]


def feed_transitions(
    conn: Connection, run_id: str
) -> dict[tuple[str, str], tuple[list[tuple[float, str]], float]]:
    """Per feed of ``run_id``: its stored status changes (seconds, status) and the time of its
    latest report (the end of what is known about it), for uptime over the run."""
    latest = {
        (row["source"], row["symbol"]): row["ts"] / 1e9 for row in latest_status(conn, run_id)
    }
    rows = conn.execute(
        select(feed_events.c.source, feed_events.c.symbol, feed_events.c.ts, feed_events.c.status)
        .where(feed_events.c.run_id == run_id)
        .order_by(feed_events.c.ts)
    ).all()
    changes: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for source, symbol, ts, status in rows:
        changes.setdefault((source, symbol), []).append((ts / 1e9, status))
    return {feed: (changes.get(feed, []), until) for feed, until in sorted(latest.items())}
