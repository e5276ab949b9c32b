"""Signal tables of the store: signals, fused decisions, the review queue, source reliability.

Time columns are ``BIGINT`` nanoseconds since the epoch (UTC), as in
:mod:`connectors.store.market`; readers return polars ``Datetime("ns", "UTC")``. Writers are
idempotent (Bytewax recovery is at-least-once at the outputs): signals and fused signals are
upserted on their deterministic ids, reliability snapshots on ``(asset, source, ts)``. A REVIEW
decision enqueues its fused signal in ``review_queue`` with status ``pending``; a replay never
resets a decision a reviewer already took (insert-or-ignore), and :func:`decide_review` records
the reviewer's call.

This module registers its writers with the store sink (:func:`register_writer`) for
:class:`~schemas.signals.Signal`, :class:`~schemas.signals.FusedSignal` and
:class:`~operators.fusion.reliability.SourceReliability`.

>>> from connectors.store.engine import open_store
>>> from datetime import datetime, timedelta, UTC
>>> from schemas.signals import Decision, FusedSignal
>>> engine = open_store("sqlite://")
>>> t = datetime(2022, 1, 3, tzinfo=UTC)
>>> fused = FusedSignal(fused_id="f1", asset="BTC/USDT", timestamp=t, score=0.6,
...                     direction="long", decision=Decision.REVIEW, reasons=["score +0.6"])
>>> write_fused(engine, [fused]), write_fused(engine, [fused])
(1, 1)
>>> read_review_queue(engine)["status"].to_list()
['pending']
>>> decide_review(engine, "f1", "approved", reviewer="ana", comment="ok", decided_at=t)
>>> write_fused(engine, [fused]); read_review_queue(engine)["status"].to_list()
1
['approved']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

import polars as pl
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    String,
    Table,
    Text,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from connectors.store.engine import metadata, upsert
from connectors.store.sink import register_writer
from schemas.common import datetime_to_ns
from schemas.signals import Decision, FusedSignal, Signal, SourceReliability

_ID = 64
_SYMBOL = 64
_NAME = 128
_TS = pl.Datetime("ns", "UTC")

REVIEW_STATUSES = ("pending", "approved", "rejected")

signals = Table(
    "signals",
    metadata,
    Column("signal_id", String(_ID), primary_key=True),
    Column("asset", String(_SYMBOL), nullable=False),
    Column("origin", String(_NAME), nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("confidence", Double, nullable=False),
    Column("ts", BigInteger, nullable=False, comment="event time (candle close), ns"),
    Column("expires_at", BigInteger, nullable=False, comment="ns; never counts from then on"),
    Column("meta", JSON, nullable=False),
    Index("ix_signals_asset_ts", "asset", "ts"),
)

fused_signals = Table(
    "fused_signals",
    metadata,
    Column("fused_id", String(_ID), primary_key=True),
    Column("asset", String(_SYMBOL), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("score", Double, nullable=False),
    Column("direction", String(8), nullable=False),
    Column("decision", String(8), nullable=False),
    Column("consensus", Double, nullable=False),
    Column("conflict", Boolean, nullable=False),
    Column("veto", Text),
    Column("timeframe_scores", JSON, nullable=False),
    Column("contributions", JSON, nullable=False, comment="one object per source"),
    Column("reasons", JSON, nullable=False),
    Index("ix_fused_asset_ts", "asset", "ts"),
)

review_queue = Table(
    "review_queue",
    metadata,
    Column("fused_id", String(_ID), primary_key=True),
    Column("asset", String(_SYMBOL), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("score", Double, nullable=False),
    Column("direction", String(8), nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("status", String(16), nullable=False, comment="pending | approved | rejected | expired"),
    Column("reviewer", String(_NAME)),
    Column("comment", Text),
    Column("decided_at", BigInteger, comment="ns"),
    Index("ix_review_status_ts", "status", "ts"),
)

source_reliability = Table(
    "source_reliability",
    metadata,
    Column("asset", String(_SYMBOL), primary_key=True),
    Column("source", String(_NAME), primary_key=True, comment="origin@timeframe"),
    Column("ts", BigInteger, primary_key=True),
    Column("origin", String(_NAME), nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("prior", Double, nullable=False),
    Column("weight", Double, nullable=False),
    Column("resolved", Integer, nullable=False),
    Column("hits", Integer, nullable=False),
    Column("hit_rate", Double),
    Column("brier", Double),
    Column("mean_predicted", Double),
    Column("calibration", JSON, nullable=False),
)


# --- writing ---------------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    """NaN/inf → None and numpy scalars → Python, so JSON columns stay valid JSON."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return _json_safe(value.item())
    return value


def signal_row(signal: Signal) -> dict[str, Any]:
    return {
        "signal_id": signal.signal_id,
        "asset": signal.asset,
        "origin": signal.origin,
        "timeframe": signal.timeframe.value,
        "direction": signal.direction.value,
        "confidence": signal.confidence,
        "ts": datetime_to_ns(signal.timestamp),
        "expires_at": datetime_to_ns(signal.expires_at),
        "meta": _json_safe(signal.meta),
    }


def fused_row(fused: FusedSignal) -> dict[str, Any]:
    return {
        "fused_id": fused.fused_id,
        "asset": fused.asset,
        "ts": datetime_to_ns(fused.timestamp),
        "score": fused.score,
        "direction": fused.direction.value,
        "decision": fused.decision.value,
        "consensus": fused.consensus,
        "conflict": fused.conflict,
        "veto": fused.veto,
        "timeframe_scores": dict(fused.timeframe_scores),
        "contributions": [c.model_dump(mode="json") for c in fused.contributions],
        "reasons": list(fused.reasons),
    }


def _unique(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    """Last row per key: one statement must not touch a row twice (PostgreSQL)."""
    return list({tuple(r[k] for k in keys): r for r in rows}.values())


def write_signals(conn_or_engine: Connection | Engine, items: Iterable[Signal]) -> int:
    """Upsert signals on ``signal_id``; returns rows sent."""
    rows = _unique([signal_row(s) for s in items], "signal_id")
    return upsert(conn_or_engine, signals, rows, ("signal_id",))


def write_fused(conn_or_engine: Connection | Engine, items: Iterable[FusedSignal]) -> int:
    """Upsert fused signals; enqueue REVIEW ones (a decision already taken is kept)."""
    fused = list(items)
    rows = _unique([fused_row(f) for f in fused], "fused_id")
    reviews = _unique(
        [
            {
                "fused_id": f.fused_id,
                "asset": f.asset,
                "ts": datetime_to_ns(f.timestamp),
                "score": f.score,
                "direction": f.direction.value,
                "reasons": list(f.reasons),
                "status": "pending",
                "reviewer": None,
                "comment": None,
                "decided_at": None,
            }
            for f in fused
            if f.decision is Decision.REVIEW
        ],
        "fused_id",
    )
    written = upsert(conn_or_engine, fused_signals, rows, ("fused_id",))
    upsert(conn_or_engine, review_queue, reviews, ("fused_id",), update=False)
    return written


def reliability_row(snapshot: SourceReliability) -> dict[str, Any]:
    row = snapshot.model_dump(mode="json")
    row["ts"] = datetime_to_ns(snapshot.ts)
    row["timeframe"] = snapshot.timeframe.value
    return row


def write_reliability(
    conn_or_engine: Connection | Engine, items: Iterable[SourceReliability]
) -> int:
    """Upsert reliability snapshots on ``(asset, source, ts)``."""
    rows = _unique([reliability_row(s) for s in items], "asset", "source", "ts")
    return upsert(conn_or_engine, source_reliability, rows, ("asset", "source", "ts"))


def decide_review(
    conn_or_engine: Connection | Engine,
    fused_id: str,
    status: Literal["approved", "rejected"],
    *,
    reviewer: str,
    comment: str | None = None,
    decided_at: datetime,
) -> None:
    """Record a reviewer's decision on a pending item.

    Raises ``ValueError`` for a status other than approved/rejected, ``KeyError`` when the item
    is not queued and ``ValueError`` when it was already decided (decisions are final).
    """
    if status not in ("approved", "rejected"):
        raise ValueError(f"status must be 'approved' or 'rejected', got {status!r}")
    if not reviewer:
        raise ValueError("reviewer must name who decided")
    stmt = (
        update(review_queue)
        .where(review_queue.c.fused_id == fused_id, review_queue.c.status == "pending")
        .values(
            status=status,
            reviewer=reviewer,
            comment=comment,
            decided_at=datetime_to_ns(decided_at),
        )
    )
    query = select(review_queue.c.status).where(review_queue.c.fused_id == fused_id)
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.begin() as conn:
            updated = conn.execute(stmt).rowcount
            current = conn.execute(query).scalar_one_or_none()
    else:
        updated = conn_or_engine.execute(stmt).rowcount
        current = conn_or_engine.execute(query).scalar_one_or_none()
    if updated == 1:
        return
    if current is None:
        raise KeyError(f"fused_id {fused_id!r} is not in the review queue")
    raise ValueError(f"review {fused_id!r} was already decided: {current}")


# --- reading ---------------------------------------------------------------------------------


def _polars_type(column: Column) -> Any:
    if isinstance(column.type, BigInteger | Integer):
        return pl.Int64
    if isinstance(column.type, Double):
        return pl.Float64
    if isinstance(column.type, Boolean):
        return pl.Boolean
    if isinstance(column.type, JSON):
        return pl.Object
    return pl.String


def _read(
    conn_or_engine: Connection | Engine,
    table: Table,
    filters: Mapping[str, Any],
    time_columns: tuple[str, ...],
    order: tuple[str, ...],
) -> pl.DataFrame:
    stmt = select(table)
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(table.c[name] == value)
    stmt = stmt.order_by(*(table.c[name] for name in order))
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            rows = conn.execute(stmt).all()
    else:
        rows = conn_or_engine.execute(stmt).all()
    schema = {c.name: _polars_type(c) for c in table.columns}
    frame = pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
    return frame.with_columns(pl.col(n).cast(_TS) for n in time_columns)


def read_signals(
    conn_or_engine: Connection | Engine, asset: str | None = None, origin: str | None = None
) -> pl.DataFrame:
    """Signals ordered by asset and time; ``meta`` stays a Python dict per row."""
    return _read(
        conn_or_engine,
        signals,
        {"asset": asset, "origin": origin},
        ("ts", "expires_at"),
        ("asset", "ts", "signal_id"),
    )


def read_fused(conn_or_engine: Connection | Engine, asset: str | None = None) -> pl.DataFrame:
    """Fused signals ordered by asset and time; JSON columns stay Python objects."""
    return _read(conn_or_engine, fused_signals, {"asset": asset}, ("ts",), ("asset", "ts"))


def read_review_queue(
    conn_or_engine: Connection | Engine, status: str | None = None
) -> pl.DataFrame:
    """Review items ordered by time, optionally of one status."""
    if status is not None and status not in REVIEW_STATUSES:
        raise ValueError(f"status must be one of {', '.join(REVIEW_STATUSES)}, got {status!r}")
    return _read(
        conn_or_engine,
        review_queue,
        {"status": status},
        ("ts", "decided_at"),
        ("ts", "fused_id"),
    )


def read_reliability(
    conn_or_engine: Connection | Engine, asset: str | None = None, *, latest: bool = False
) -> pl.DataFrame:
    """Reliability snapshots ordered by asset, source and time (or only each source's latest)."""
    frame = _read(
        conn_or_engine,
        source_reliability,
        {"asset": asset},
        ("ts",),
        ("asset", "source", "ts"),
    )
    if latest and frame.height:
        frame = frame.group_by("asset", "source", maintain_order=True).last()
    return frame


def _write_signals(conn: Connection, items: list[Signal], run_id: str) -> int:
    return write_signals(conn, items)


def _write_fused(conn: Connection, items: list[FusedSignal], run_id: str) -> int:
    return write_fused(conn, items)


def _write_reliability(conn: Connection, items: list[SourceReliability], run_id: str) -> int:
    return write_reliability(conn, items)


register_writer(Signal, _write_signals)
register_writer(FusedSignal, _write_fused)
register_writer(SourceReliability, _write_reliability)


def settle_reviews(conn: Connection, tickets: Iterable[Any]) -> int:
    """Carry the trading core's review outcomes into ``review_queue`` (one queue, one truth).

    ``tickets`` are :class:`~schemas.operations.ReviewTicket` records. An approved, rejected or
    expired ticket settles its item when it is still pending (a person's earlier decision is
    never overwritten); an item the queue has not seen yet is inserted already settled. Returns
    the rows touched.
    """
    rows = [
        {
            "fused_id": t.fused_id,
            "asset": t.asset,
            "ts": datetime_to_ns(t.queued_at),
            "score": float(t.score),
            "direction": t.direction.value,
            "reasons": list(t.reasons),
            "status": t.status.value,
            "reviewer": t.actor or ("expired" if t.status.value == "expired" else None),
            "comment": None,
            "decided_at": datetime_to_ns(t.updated_at),
        }
        for t in tickets
        if t.status.value in ("approved", "rejected", "expired")
    ]
    if not rows:
        return 0
    insert = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
    stmt = insert(review_queue)
    stmt = stmt.on_conflict_do_update(
        index_elements=["fused_id"],
        set_={c: stmt.excluded[c] for c in ("status", "reviewer", "decided_at")},
        where=review_queue.c.status == "pending",
    )
    conn.execute(stmt, rows)
    return len(rows)
