"""Reads of the trading tables (orders, fills, positions, equity) and of the runs.

Money comes back as exact ``Decimal`` (the records of :mod:`schemas.trading`), filtered and
paged in SQL. Without a ``run_id`` a read shows the most recently started run that has rows
in that table, so a dashboard or client sees the latest backtest by default.

>>> from datetime import UTC, datetime
>>> from decimal import Decimal
>>> from connectors.store.engine import open_store
>>> from connectors.store.trading import write_records
>>> from schemas.trading import Fill
>>> engine = open_store("sqlite://")
>>> fill = Fill(fill_id="f1", order_id="o1", asset="A/B", side="buy", quantity=Decimal("0.5"),
...             price=Decimal("100.25"), fee=Decimal("0.05"), ts=datetime(2022, 1, 1, tzinfo=UTC))
>>> _ = write_records(engine, [fill], run_id="r1")
>>> with engine.connect() as conn:
...     run_id, total, items = fills_page(conn, None, asset=None, limit=10, offset=0)
>>> run_id, total, items[0].price
('r1', 1, Decimal('100.25'))
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import BigInteger, ColumnElement, Table, func, select
from sqlalchemy.engine import Connection, Row

from api.models import RunOut
from connectors.store.market import runs
from connectors.store.trading import equity, fills, orders, positions
from operators.portfolio.book import EquityPoint
from schemas.common import ns_to_datetime
from schemas.trading import Fill, Order, Position

RecordT = TypeVar("RecordT", bound=BaseModel)


def _record(row: Row[Any], record_type: type[RecordT], table: Table) -> RecordT:
    mapping = row._mapping
    data = {name: mapping[name] for name in record_type.model_fields}
    for column in table.columns:
        if isinstance(column.type, BigInteger) and data.get(column.name) is not None:
            data[column.name] = ns_to_datetime(data[column.name])
    return record_type.model_validate(data)


def default_run(conn: Connection, table: Table) -> str | None:
    """The most recently started run with rows in ``table`` (run ids sort by start time)."""
    present = select(table.c.run_id).distinct().subquery()
    stmt = (
        select(present.c.run_id)
        .outerjoin(runs, runs.c.run_id == present.c.run_id)
        .order_by(runs.c.started_at.desc().nulls_last(), present.c.run_id.desc())
        .limit(1)
    )
    return conn.execute(stmt).scalar_one_or_none()


def _resolve(conn: Connection, table: Table, run_id: str | None) -> str | None:
    return run_id if run_id is not None else default_run(conn, table)


def _of_run(table: Table, run_id: str | None, portfolio: str | None) -> list[ColumnElement[bool]]:
    conditions = [table.c.run_id == run_id]
    if portfolio is not None:
        conditions.append(table.c.portfolio == portfolio)
    return conditions


def portfolio_ids(conn: Connection, run_id: str | None) -> tuple[str | None, list[str]]:
    """The portfolios a run's equity curve holds (the default run has one), sorted."""
    run_id = _resolve(conn, equity, run_id)
    stmt = select(equity.c.portfolio).where(equity.c.run_id == run_id).distinct()
    return run_id, sorted(conn.execute(stmt).scalars())


def _paged(
    conn: Connection,
    table: Table,
    record_type: type[RecordT],
    conditions: list[ColumnElement[bool]],
    order: list[Any],
    limit: int,
    offset: int,
) -> tuple[int, list[RecordT]]:
    total = conn.execute(select(func.count()).select_from(table).where(*conditions)).scalar_one()
    rows = conn.execute(
        select(table).where(*conditions).order_by(*order).limit(limit).offset(offset)
    ).all()
    return int(total), [_record(r, record_type, table) for r in rows]


def orders_page(
    conn: Connection,
    run_id: str | None,
    *,
    asset: str | None,
    status: str | None,
    limit: int,
    offset: int,
    portfolio: str | None = None,
) -> tuple[str | None, int, list[Order]]:
    """Orders of a run (latest state of each; of every portfolio or one), oldest first."""
    run_id = _resolve(conn, orders, run_id)
    conditions = _of_run(orders, run_id, portfolio)
    if asset is not None:
        conditions.append(orders.c.asset == asset)
    if status is not None:
        conditions.append(orders.c.status == status)
    order = [orders.c.created_at, orders.c.order_id, orders.c.portfolio]
    total, items = _paged(conn, orders, Order, conditions, order, limit, offset)
    return run_id, total, items


def fills_page(
    conn: Connection,
    run_id: str | None,
    *,
    asset: str | None,
    limit: int,
    offset: int,
    portfolio: str | None = None,
) -> tuple[str | None, int, list[Fill]]:
    """Fills of a run (of every portfolio or one), oldest first."""
    run_id = _resolve(conn, fills, run_id)
    conditions = _of_run(fills, run_id, portfolio)
    if asset is not None:
        conditions.append(fills.c.asset == asset)
    total, items = _paged(
        conn,
        fills,
        Fill,
        conditions,
        [fills.c.ts, fills.c.fill_id, fills.c.portfolio],
        limit,
        offset,
    )
    return run_id, total, items


def current_positions(
    conn: Connection,
    run_id: str | None,
    *,
    include_flat: bool = False,
    portfolio: str | None = None,
) -> tuple[str | None, list[Position]]:
    """The latest snapshot of each portfolio's position in each asset of a run (flat ones only
    on request; of every portfolio or one)."""
    run_id = _resolve(conn, positions, run_id)
    conditions = _of_run(positions, run_id, portfolio)
    newest = (
        select(
            positions.c.portfolio,
            positions.c.asset,
            func.max(positions.c.updated_at).label("updated_at"),
        )
        .where(*conditions)
        .group_by(positions.c.portfolio, positions.c.asset)
        .subquery()
    )
    stmt = (
        select(positions)
        .join(
            newest,
            (positions.c.portfolio == newest.c.portfolio)
            & (positions.c.asset == newest.c.asset)
            & (positions.c.updated_at == newest.c.updated_at),
        )
        .where(*conditions)
        .order_by(positions.c.portfolio, positions.c.asset)
    )
    items = [_record(r, Position, positions) for r in conn.execute(stmt)]
    if not include_flat:
        items = [p for p in items if p.quantity != 0]
    return run_id, items


def equity_curve(
    conn: Connection,
    run_id: str | None,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    limit: int,
    portfolio: str | None = None,
) -> tuple[str | None, list[EquityPoint]]:
    """Equity points of a run in time order (the first ``limit`` within the range; of every
    portfolio or one)."""
    run_id = _resolve(conn, equity, run_id)
    conditions = _of_run(equity, run_id, portfolio)
    if start_ns is not None:
        conditions.append(equity.c.ts >= start_ns)
    if end_ns is not None:
        conditions.append(equity.c.ts < end_ns)
    stmt = select(equity).where(*conditions).order_by(equity.c.ts, equity.c.portfolio)
    rows = conn.execute(stmt.limit(limit))
    return run_id, [_record(r, EquityPoint, equity) for r in rows]


def run_out(row: Row[Any]) -> RunOut:
    m = row._mapping
    finished = m["finished_at"]
    return RunOut(
        run_id=m["run_id"],
        command=m["command"],
        started_at=ns_to_datetime(m["started_at"]),
        finished_at=None if finished is None else ns_to_datetime(finished),
        args=m["args"],
        summary=m["summary"],
    )


def recent_runs(conn: Connection, limit: int) -> list[RunOut]:
    """Runs, most recently started first."""
    stmt = select(runs).order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit)
    return [run_out(r) for r in conn.execute(stmt)]
