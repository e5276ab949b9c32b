"""Keyset paging over a time-ordered table: ``(ts, id)`` positions, any direction, any filter.

SQL filters select rows; an optional Python predicate refines them (for conditions inside JSON
columns, which SQLite and PostgreSQL query differently). With a predicate a page may scan
many rows, so scanning stops after ``scan_budget`` rows and hands back the position reached:
a short (even empty) page with a ``next`` cursor means "keep going", ``next=None`` the end.

>>> from sqlalchemy import BigInteger, Column, MetaData, String, Table, create_engine
>>> meta = MetaData()
>>> rows = Table("rows", meta, Column("rid", String, primary_key=True), Column("ts", BigInteger))
>>> engine = create_engine("sqlite://")
>>> meta.create_all(engine)
>>> with engine.begin() as conn:
...     _ = conn.execute(rows.insert(), [{"rid": f"r{i}", "ts": i // 2} for i in range(5)])
>>> keyset = Keyset(rows.c.ts, rows.c.rid)
>>> with engine.connect() as conn:
...     first = keyset.page(conn, [], limit=2)
...     second = keyset.page(conn, [], limit=2, after=first.next)
...     last = keyset.page(conn, [], limit=2, after=second.next)
>>> [r.rid for r in first.rows], [r.rid for r in second.rows], [r.rid for r in last.rows]
(['r0', 'r1'], ['r2', 'r3'], ['r4'])
>>> last.next is None
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.engine import Connection, Row

from api.cursor import Cursor

DEFAULT_SCAN_BUDGET = 5_000
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Page:
    """Rows kept, the cursor of the next page (``None``: the end) and the last row scanned."""

    rows: list[Row[Any]]
    next: Cursor | None
    reached: Cursor | None = None


@dataclass(frozen=True, slots=True)
class Keyset:
    """Paging on ``(ts_column, id_column)`` of one table."""

    ts_column: Any
    id_column: Any

    def position(self, row: Row[Any]) -> Cursor:
        mapping = row._mapping
        return Cursor(int(mapping[self.ts_column.name]), str(mapping[self.id_column.name]))

    def beyond(self, cursor: Cursor, descending: bool = False) -> ColumnElement[bool]:
        """Rows strictly after ``cursor`` in the paging direction."""
        ts, ident = self.ts_column, self.id_column
        if descending:
            return or_(ts < cursor.ts_ns, and_(ts == cursor.ts_ns, ident < cursor.id))
        return or_(ts > cursor.ts_ns, and_(ts == cursor.ts_ns, ident > cursor.id))

    def order(self, descending: bool = False) -> tuple[Any, Any]:
        if descending:
            return self.ts_column.desc(), self.id_column.desc()
        return self.ts_column.asc(), self.id_column.asc()

    def page(
        self,
        conn: Connection,
        where: Sequence[ColumnElement[bool]],
        *,
        limit: int,
        after: Cursor | None = None,
        descending: bool = False,
        keep: Callable[[Row[Any]], bool] | None = None,
        scan_budget: int = DEFAULT_SCAN_BUDGET,
    ) -> Page:
        """Up to ``limit`` rows after ``after`` that pass ``where`` (and ``keep``)."""
        table = self.ts_column.table
        kept: list[Row[Any]] = []
        position, scanned = after, 0
        while len(kept) < limit and scanned < scan_budget:
            conditions = list(where)
            if position is not None:
                conditions.append(self.beyond(position, descending))
            chunk = limit - len(kept) if keep is None else _CHUNK
            stmt = select(table).where(*conditions).order_by(*self.order(descending)).limit(chunk)
            rows = conn.execute(stmt).all()
            for row in rows:
                scanned += 1
                position = self.position(row)
                if keep is None or keep(row):
                    kept.append(row)
                    if len(kept) == limit:
                        break
            if len(kept) == limit:
                break
            if len(rows) < chunk:
                return Page(kept, None, position)
        if position is None:
            return Page(kept, None)
        more = select(exists().where(*where, self.beyond(position, descending)))
        return Page(kept, position if conn.execute(more).scalar() else None, position)
