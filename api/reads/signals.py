"""Reads of fused signals, generator signals and the review queue, as API models.

Shared by the API and the dashboard. Filters on a fused signal's sources (``origin``,
``timeframe``) look inside its ``contributions`` JSON, in Python, so they work the same on
SQLite and PostgreSQL; everything else is SQL.

>>> from datetime import UTC, datetime
>>> from connectors.store.engine import open_store
>>> from connectors.store.signals import write_fused
>>> from schemas.signals import Decision, FusedSignal
>>> engine = open_store("sqlite://")
>>> t = datetime(2022, 1, 3, tzinfo=UTC)
>>> _ = write_fused(engine, [FusedSignal(fused_id="f1", asset="BTC/USDT", timestamp=t,
...                                      score=0.6, direction="long", decision=Decision.REVIEW)])
>>> with engine.connect() as conn:
...     [(s.asset, s.decision.value) for s in latest_fused(conn)]
[('BTC/USDT', 'review')]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.engine import Connection, Row

from api.cursor import Cursor
from api.models import (
    FusedSignalDetail,
    FusedSignalOut,
    FusedSignalPage,
    ReviewItem,
    ReviewPage,
    SourceSignalOut,
    SourceSignalPage,
)
from api.reads.paging import Keyset
from connectors.store.signals import fused_signals, review_queue, signals
from schemas.common import Direction, Timeframe, ns_to_datetime
from schemas.signals import Decision, Signal

FUSED = Keyset(fused_signals.c.ts, fused_signals.c.fused_id)
SOURCE = Keyset(signals.c.ts, signals.c.signal_id)
REVIEWS = Keyset(review_queue.c.ts, review_queue.c.fused_id)


@dataclass(frozen=True, slots=True)
class FusedFilter:
    """Which fused signals: SQL columns plus conditions on their contributions.

    >>> flt = FusedFilter(origin="rules:rsi")
    >>> flt.keeps({"contributions": [{"origin": "rules:rsi", "timeframe": "15m"}]})
    True
    >>> flt.keeps({"contributions": [{"origin": "ml:online", "timeframe": "15m"}]})
    False
    """

    asset: str | None = None
    decisions: tuple[Decision, ...] = ()
    origin: str | None = None
    timeframe: Timeframe | None = None
    start_ns: int | None = None
    end_ns: int | None = None

    def where(self) -> list[ColumnElement[bool]]:
        table = fused_signals
        conditions: list[ColumnElement[bool]] = []
        if self.asset is not None:
            conditions.append(table.c.asset == self.asset)
        if self.decisions:
            conditions.append(table.c.decision.in_([d.value for d in self.decisions]))
        if self.start_ns is not None:
            conditions.append(table.c.ts >= self.start_ns)
        if self.end_ns is not None:
            conditions.append(table.c.ts < self.end_ns)
        return conditions

    @property
    def inspects_contributions(self) -> bool:
        return self.origin is not None or self.timeframe is not None

    def keeps(self, row: Any) -> bool:
        """Whether one contribution matches ``origin`` and ``timeframe`` (both when given)."""
        mapping = row if isinstance(row, dict) else row._mapping
        for item in mapping["contributions"] or ():
            if self.origin is not None and item.get("origin") != self.origin:
                continue
            if self.timeframe is not None and item.get("timeframe") != self.timeframe.value:
                continue
            return True
        return False


@dataclass(frozen=True, slots=True)
class SourceFilter:
    """Which generator signals (all SQL)."""

    asset: str | None = None
    origin: str | None = None
    timeframe: Timeframe | None = None
    directions: tuple[Direction, ...] = field(default=())
    start_ns: int | None = None
    end_ns: int | None = None

    def where(self) -> list[ColumnElement[bool]]:
        table = signals
        conditions: list[ColumnElement[bool]] = []
        if self.asset is not None:
            conditions.append(table.c.asset == self.asset)
        if self.origin is not None:
            conditions.append(table.c.origin == self.origin)
        if self.timeframe is not None:
            conditions.append(table.c.timeframe == self.timeframe.value)
        if self.directions:
            conditions.append(table.c.direction.in_([d.value for d in self.directions]))
        if self.start_ns is not None:
            conditions.append(table.c.ts >= self.start_ns)
        if self.end_ns is not None:
            conditions.append(table.c.ts < self.end_ns)
        return conditions


# --- row → model -------------------------------------------------------------------------------


def fused_out(row: Row[Any]) -> FusedSignalOut:
    m = row._mapping
    return FusedSignalOut(
        fused_id=m["fused_id"],
        asset=m["asset"],
        timestamp=ns_to_datetime(m["ts"]),
        score=m["score"],
        direction=m["direction"],
        decision=m["decision"],
        consensus=m["consensus"],
        conflict=bool(m["conflict"]),
        veto=m["veto"],
        timeframe_scores=m["timeframe_scores"] or {},
        contributions=m["contributions"] or [],
        reasons=m["reasons"] or [],
        cursor=FUSED.position(row).encode(),
    )


def _signal_fields(row: Row[Any]) -> dict[str, Any]:
    m = row._mapping
    return {
        "signal_id": m["signal_id"],
        "asset": m["asset"],
        "direction": m["direction"],
        "confidence": m["confidence"],
        "timeframe": m["timeframe"],
        "origin": m["origin"],
        "meta": m["meta"] or {},
        "timestamp": ns_to_datetime(m["ts"]),
        "expires_at": ns_to_datetime(m["expires_at"]),
    }


def review_item(row: Row[Any]) -> ReviewItem:
    m = row._mapping
    decided = m["decided_at"]
    return ReviewItem(
        fused_id=m["fused_id"],
        asset=m["asset"],
        timestamp=ns_to_datetime(m["ts"]),
        score=m["score"],
        direction=m["direction"],
        reasons=m["reasons"] or [],
        status=m["status"],
        reviewer=m["reviewer"],
        comment=m["comment"],
        decided_at=None if decided is None else ns_to_datetime(decided),
        cursor=REVIEWS.position(row).encode(),
    )


# --- queries -----------------------------------------------------------------------------------


def fused_page(
    conn: Connection,
    flt: FusedFilter,
    *,
    limit: int,
    after: Cursor | None = None,
    descending: bool = True,
) -> FusedSignalPage:
    """A page of fused signals, newest first by default."""
    keep = flt.keeps if flt.inspects_contributions else None
    page = FUSED.page(conn, flt.where(), limit=limit, after=after, descending=descending, keep=keep)
    return FusedSignalPage(
        items=[fused_out(r) for r in page.rows],
        next_cursor=None if page.next is None else page.next.encode(),
    )


@dataclass(frozen=True, slots=True)
class StreamBatch:
    """Fused signals for a stream, the position its scan reached, and whether more wait."""

    items: list[FusedSignalOut]
    position: Cursor
    caught_up: bool


def fused_after(conn: Connection, flt: FusedFilter, after: Cursor, *, limit: int) -> StreamBatch:
    """Fused signals after ``after`` in stream order ((ts, id) ascending)."""
    keep = flt.keeps if flt.inspects_contributions else None
    page = FUSED.page(conn, flt.where(), limit=limit, after=after, keep=keep)
    # where the scan stopped: possibly past rows the filter skipped, never to be read again
    reached = page.reached if page.reached is not None else after
    return StreamBatch([fused_out(r) for r in page.rows], reached, page.next is None)


def stream_start(conn: Connection) -> Cursor:
    """The position of the newest fused signal: a stream without a cursor starts there."""
    row = conn.execute(
        select(fused_signals.c.ts, fused_signals.c.fused_id)
        .order_by(*FUSED.order(descending=True))
        .limit(1)
    ).first()
    return Cursor(0, "") if row is None else Cursor(int(row.ts), str(row.fused_id))


def latest_fused(conn: Connection, decisions: Sequence[Decision] = ()) -> list[FusedSignalOut]:
    """The newest fused signal of every asset (of the given decisions), by asset."""
    table = fused_signals
    conditions = [table.c.decision.in_([d.value for d in decisions])] if decisions else []
    newest = (
        select(table.c.asset, func.max(table.c.ts).label("ts"))
        .where(*conditions)
        .group_by(table.c.asset)
        .subquery()
    )
    stmt = (
        select(table)
        .join(newest, (table.c.asset == newest.c.asset) & (table.c.ts == newest.c.ts))
        .where(*conditions)
        .order_by(table.c.asset, table.c.fused_id)
    )
    by_asset: dict[str, Row[Any]] = {}
    for row in conn.execute(stmt):
        by_asset[row.asset] = row  # ties on time: the greatest id wins, as in stream order
    return [fused_out(by_asset[a]) for a in sorted(by_asset)]


def fused_detail(conn: Connection, fused_id: str) -> FusedSignalDetail | None:
    """One fused signal with its contributing signals and review; ``None`` if unknown."""
    row = conn.execute(select(fused_signals).where(fused_signals.c.fused_id == fused_id)).first()
    if row is None:
        return None
    out = fused_out(row)
    ids = [c.signal_id for c in out.contributions]
    contributing = signals_by_id(conn, ids)
    review = review_by_id(conn, fused_id)
    return FusedSignalDetail(
        **out.model_dump(),
        signals=[contributing[i] for i in ids if i in contributing],
        review=review,
    )


def signals_by_id(conn: Connection, ids: Iterable[str]) -> dict[str, Signal]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(select(signals).where(signals.c.signal_id.in_(wanted))).all()
    return {row.signal_id: Signal(**_signal_fields(row)) for row in rows}


def source_page(
    conn: Connection,
    flt: SourceFilter,
    *,
    limit: int,
    after: Cursor | None = None,
    descending: bool = True,
) -> SourceSignalPage:
    """A page of generator signals, newest first by default."""
    page = SOURCE.page(conn, flt.where(), limit=limit, after=after, descending=descending)
    items = [
        SourceSignalOut(**_signal_fields(r), cursor=SOURCE.position(r).encode()) for r in page.rows
    ]
    return SourceSignalPage(
        items=items, next_cursor=None if page.next is None else page.next.encode()
    )


def review_page(
    conn: Connection,
    *,
    status: str | None,
    asset: str | None = None,
    limit: int,
    after: Cursor | None = None,
) -> ReviewPage:
    """Review items, oldest first (the order a reviewer works through them)."""
    conditions: list[ColumnElement[bool]] = []
    if status is not None:
        conditions.append(review_queue.c.status == status)
    if asset is not None:
        conditions.append(review_queue.c.asset == asset)
    page = REVIEWS.page(conn, conditions, limit=limit, after=after)
    return ReviewPage(
        items=[review_item(r) for r in page.rows],
        next_cursor=None if page.next is None else page.next.encode(),
    )


def review_by_id(conn: Connection, fused_id: str) -> ReviewItem | None:
    row = conn.execute(select(review_queue).where(review_queue.c.fused_id == fused_id)).first()
    return None if row is None else review_item(row)
