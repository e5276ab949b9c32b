"""Trading tables of the store: orders, fills, positions, equity, risk decisions and friends.

One table per record type of the trading core, each keyed by ``run_id`` and ``portfolio`` plus
the record's own id, so several backtests and several portfolios of one run live side by side.
Columns carry the record's field names:

==================  ==========================================  ==============================
table               record                                      key (after run, portfolio)
==================  ==========================================  ==============================
order_intents       :class:`~schemas.trading.OrderIntent`        ``intent_id``
risk_decisions      :class:`~schemas.trading.RiskDecision`       ``decision_id``
orders              :class:`~schemas.trading.Order` (latest)     ``order_id``
fills               :class:`~schemas.trading.Fill`               ``fill_id``
positions           :class:`~schemas.trading.Position` history   ``asset, updated_at``
equity              equity points                                ``ts``
trading_states      trading-state switches                       ``timestamp, current, cause``
review_tickets      review queue (latest status)                 ``fused_id``
manual_actions      manual actions and their outcome             ``action_id``
trading_summaries   the core's closing counters                  ``ts``
==================  ==========================================  ==============================

Money is stored as exact decimal *text* (the same on SQLite and PostgreSQL) and read back by
the polars readers as ``Float64`` (analysis, dashboards) or by :func:`load_records` as the
original ``Decimal`` records. Times are ``BIGINT`` nanoseconds since the epoch (UTC), read back
as ``Datetime("ns", "UTC")``. Writers are idempotent upserts (the latest version of an order
or review wins), registered with the store sink, so the flow can send the trading core's
output straight to :class:`~connectors.store.sink.StoreSink`; record types without a table
here (fused signals, dead letters) are written by their own domains.

>>> from datetime import UTC, datetime
>>> from decimal import Decimal
>>> from connectors.store.engine import open_store
>>> from schemas.trading import Fill
>>> engine = open_store("sqlite://")
>>> fill = Fill(fill_id="f1", order_id="o1", asset="A/B", side="buy", quantity=Decimal("0.5"),
...             price=Decimal("100.25"), fee=Decimal("0.05"), ts=datetime(2022, 1, 1, tzinfo=UTC))
>>> write_records(engine, [fill, fill], run_id="r1")
{'Fill': 1}
>>> read_fills(engine, run_id="r1").select("price", "fee").row(0)
(100.25, 0.05)
>>> load_records(engine, Fill, run_id="r1") == [fill]
True
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import polars as pl
from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    select,
)
from sqlalchemy.engine import Connection, Engine

from connectors.store.engine import StoreSchemaError, metadata, register_schema_check, upsert
from connectors.store.signals import settle_reviews
from connectors.store.sink import register_writer
from operators.execution.records import ManualActionResult, ReviewTicket, TradingSummary
from operators.portfolio.book import EquityPoint
from operators.risk.state import TradingStateChange
from schemas.common import datetime_to_ns, ns_to_datetime
from schemas.trading import Fill, Order, OrderIntent, Position, RiskDecision

_ID = 160
_NAME = 64
_TS = pl.Datetime("ns", "UTC")


class DecimalText(TypeDecorator[Decimal]):
    """An exact ``Decimal`` stored as text (portable; no float rounding on SQLite)."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(value)


def _money(name: str, nullable: bool = False) -> Column[Any]:
    return Column(name, DecimalText(), nullable=nullable)


def _time(name: str, nullable: bool = False, primary_key: bool = False) -> Column[Any]:
    return Column(name, BigInteger, nullable=nullable, primary_key=primary_key)


def _run() -> Column[Any]:
    return Column("run_id", String(_NAME), primary_key=True)


def _portfolio() -> Column[Any]:
    return Column("portfolio", String(_NAME), primary_key=True)


order_intents = Table(
    "order_intents",
    metadata,
    _run(),
    _portfolio(),
    Column("intent_id", String(_ID), primary_key=True),
    Column("asset", String(_NAME), nullable=False),
    Column("side", String(8), nullable=False),
    _money("quantity"),
    Column("order_type", String(16), nullable=False),
    _money("limit_price", True),
    _money("reference_price"),
    _money("stop_price", True),
    _money("take_profit", True),
    Column("reduce_only", Boolean, nullable=False),
    Column("algo", String(16), nullable=False),
    Column("fused_id", String(_ID)),
    Column("reason", Text, nullable=False),
    _time("timestamp"),
)

risk_decisions = Table(
    "risk_decisions",
    metadata,
    _run(),
    _portfolio(),
    Column("decision_id", String(_ID), primary_key=True),
    Column("intent_id", String(_ID), nullable=False),
    Column("asset", String(_NAME), nullable=False),
    Column("approved", Boolean, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("trading_state", String(16), nullable=False),
    _money("estimated_fee"),
    _money("estimated_slippage"),
    _time("timestamp"),
)

orders = Table(
    "orders",
    metadata,
    _run(),
    _portfolio(),
    Column("order_id", String(_ID), primary_key=True),
    Column("intent_id", String(_ID), nullable=False),
    Column("asset", String(_NAME), nullable=False),
    Column("side", String(8), nullable=False),
    _money("quantity"),
    _money("filled_quantity"),
    _money("average_price", True),
    Column("status", String(24), nullable=False),
    Column("order_type", String(16), nullable=False),
    _money("limit_price", True),
    Column("algo", String(16), nullable=False),
    _time("created_at"),
    _time("updated_at"),
    Column("reason", Text, nullable=False),
)

fills = Table(
    "fills",
    metadata,
    _run(),
    _portfolio(),
    Column("fill_id", String(_ID), primary_key=True),
    Column("order_id", String(_ID), nullable=False),
    Column("asset", String(_NAME), nullable=False),
    Column("side", String(8), nullable=False),
    _money("quantity"),
    _money("price"),
    _money("fee"),
    Column("liquidity", String(8), nullable=False),
    _money("mid_price", True),
    Column("slippage_bps", Double, nullable=False),
    _time("ts"),
)

positions = Table(
    "positions",
    metadata,
    _run(),
    _portfolio(),
    Column("asset", String(_NAME), primary_key=True),
    _time("updated_at", primary_key=True),
    _money("quantity"),
    _money("average_price"),
    _money("realized_pnl"),
    _money("unrealized_pnl"),
    _money("fees_paid"),
    _money("stop_price", True),
    _money("take_profit", True),
    _time("opened_at", nullable=True),
)

equity = Table(
    "equity",
    metadata,
    _run(),
    _portfolio(),
    _time("ts", primary_key=True),
    _money("equity"),
    _money("cash"),
    _money("realized_pnl"),
    _money("unrealized_pnl"),
    _money("fees_paid"),
    _money("gross_exposure"),
    _money("net_exposure"),
    Column("exposure", JSON, nullable=False, comment="{asset: signed notional as text}"),
    Column("open_positions", Integer, nullable=False),
    Column("drawdown_pct", Double, nullable=False),
)

trading_states = Table(
    "trading_states",
    metadata,
    _run(),
    _portfolio(),
    _time("timestamp", primary_key=True),
    Column("current", String(16), primary_key=True),
    Column("cause", String(_NAME), primary_key=True),
    Column("previous", String(16), nullable=False),
    Column("detail", Text, nullable=False),
)

review_tickets = Table(
    "review_tickets",
    metadata,
    _run(),
    _portfolio(),
    Column("fused_id", String(_ID), primary_key=True),
    Column("asset", String(_NAME), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("score", Double, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reasons", JSON, nullable=False),
    _time("queued_at"),
    _time("expires_at"),
    _time("updated_at"),
    Column("actor", String(_NAME)),
)

manual_actions = Table(
    "manual_actions",
    metadata,
    _run(),
    _portfolio(),
    Column("action_id", String(_ID), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("actor", String(_NAME), nullable=False),
    Column("applied", Boolean, nullable=False),
    Column("detail", Text, nullable=False),
    Column("action", JSON, nullable=False, comment="the action as submitted"),
    _time("ts"),
)


trading_summaries = Table(
    "trading_summaries",
    metadata,
    _run(),
    _portfolio(),
    _time("ts", primary_key=True),
    Column("counters", JSON, nullable=False),
)


# --- record ⇄ row ------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return datetime_to_ns(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _flat_row(record: BaseModel, run_id: str) -> dict[str, Any]:
    row = {name: _plain(getattr(record, name)) for name in type(record).model_fields}
    row["run_id"] = run_id
    return row


def _equity_row(point: EquityPoint, run_id: str) -> dict[str, Any]:
    row = _flat_row(point, run_id)
    row["exposure"] = {asset: str(v) for asset, v in point.exposure.items()}
    return row


def _manual_row(result: ManualActionResult, run_id: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "portfolio": result.portfolio,
        "action_id": result.action.action_id,
        "kind": result.action.kind.value,
        "actor": result.action.actor,
        "applied": result.applied,
        "detail": result.detail,
        "action": result.action.model_dump(mode="json"),
        "ts": datetime_to_ns(result.ts),
    }


@dataclass(frozen=True, slots=True)
class _Spec:
    table: Table
    keys: tuple[str, ...]
    to_row: Any  # Callable[[record, run_id], dict]
    order_by: tuple[str, ...]


_SPECS: dict[type[BaseModel], _Spec] = {
    OrderIntent: _Spec(
        order_intents, ("run_id", "portfolio", "intent_id"), _flat_row, ("timestamp",)
    ),
    RiskDecision: _Spec(
        risk_decisions, ("run_id", "portfolio", "decision_id"), _flat_row, ("timestamp",)
    ),
    Order: _Spec(
        orders, ("run_id", "portfolio", "order_id"), _flat_row, ("created_at", "order_id")
    ),
    Fill: _Spec(fills, ("run_id", "portfolio", "fill_id"), _flat_row, ("ts", "fill_id")),
    Position: _Spec(
        positions, ("run_id", "portfolio", "asset", "updated_at"), _flat_row, ("updated_at",)
    ),
    EquityPoint: _Spec(equity, ("run_id", "portfolio", "ts"), _equity_row, ("ts",)),
    TradingStateChange: _Spec(
        trading_states,
        ("run_id", "portfolio", "timestamp", "current", "cause"),
        _flat_row,
        ("timestamp",),
    ),
    ReviewTicket: _Spec(
        review_tickets, ("run_id", "portfolio", "fused_id"), _flat_row, ("queued_at",)
    ),
    ManualActionResult: _Spec(
        manual_actions, ("run_id", "portfolio", "action_id"), _manual_row, ("ts",)
    ),
    TradingSummary: _Spec(trading_summaries, ("run_id", "portfolio", "ts"), _flat_row, ("ts",)),
}


def stored_types() -> tuple[type[BaseModel], ...]:
    """The record types this module stores."""
    return tuple(_SPECS)


def _last_per_key(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    unique = {tuple(row[k] for k in keys): row for row in rows}
    return list(unique.values())


def _write(conn: Connection | Engine, items: list[Any], run_id: str) -> int:
    spec = _SPECS[type(items[0])]
    rows = _last_per_key([spec.to_row(item, run_id) for item in items], spec.keys)
    upsert(conn, spec.table, rows, spec.keys)
    return len(rows)


def write_records(
    conn_or_engine: Connection | Engine, records: Iterable[Any], run_id: str
) -> dict[str, int]:
    """Upsert trading records of any stored type; returns distinct rows written per type."""
    groups: dict[type, list[Any]] = {}
    for record in records:
        if type(record) not in _SPECS:
            raise TypeError(f"no trading table for {type(record).__name__}")
        groups.setdefault(type(record), []).append(record)
    counts: dict[str, int] = {}
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.begin() as conn:
            for kind, items in groups.items():
                counts[kind.__name__] = _write(conn, items, run_id)
    else:
        for kind, items in groups.items():
            counts[kind.__name__] = _write(conn_or_engine, items, run_id)
    return counts


def _write_review_tickets(conn: Connection, items: list[Any], run_id: str) -> int:
    """Store the tickets and settle their items in the review queue the API serves."""
    written = _write(conn, items, run_id)
    settle_reviews(conn, items)
    return written


for _type in _SPECS:
    register_writer(_type, _write_review_tickets if _type is ReviewTicket else _write)


def refuse_stores_without_portfolios(engine: Engine) -> None:
    """A store written before runs had several portfolios keys its trading tables without
    one; its keys cannot be changed in place, so it is refused with what to do."""
    from sqlalchemy import inspect

    inspector = inspect(engine)
    present = set(inspector.get_table_names())
    old = sorted(
        spec.table.name
        for spec in _SPECS.values()
        if spec.table.name in present
        and "portfolio" not in {c["name"] for c in inspector.get_columns(spec.table.name)}
    )
    if old:
        raise StoreSchemaError(
            f"the store at {engine.url.render_as_string(hide_password=True)} was written by an "
            f"older Quorum: its trading tables ({', '.join(old)}) have no 'portfolio' column "
            "(runs now trade several portfolios). Use a new store (another --store path or "
            "database), or drop those tables to keep the rest"
        )


register_schema_check(refuse_stores_without_portfolios)


# --- reading -----------------------------------------------------------------------------------


def _rows(
    conn_or_engine: Connection | Engine,
    table: Table,
    run_id: str | None,
    order_by: Iterable[str],
    portfolio: str | None = None,
) -> list[Mapping[str, Any]]:
    stmt = select(table)
    if run_id is not None:
        stmt = stmt.where(table.c.run_id == run_id)
    if portfolio is not None:
        stmt = stmt.where(table.c.portfolio == portfolio)
    stmt = stmt.order_by(table.c.run_id, *(table.c[name] for name in order_by), table.c.portfolio)
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            return [row._mapping for row in conn.execute(stmt)]
    return [row._mapping for row in conn_or_engine.execute(stmt)]


def load_records(
    conn_or_engine: Connection | Engine,
    record_type: type[BaseModel],
    run_id: str | None = None,
    portfolio: str | None = None,
) -> list[Any]:
    """Stored rows rebuilt as records (exact Decimals), in time order (of every portfolio, or
    of ``portfolio``).

    Works for every type but :class:`~operators.execution.records.ManualActionResult`, whose
    stored form is flattened (read it with :func:`read_table`).
    """
    spec = _SPECS[record_type]
    times = _time_columns(spec.table)
    out = []
    for row in _rows(conn_or_engine, spec.table, run_id, spec.order_by, portfolio):
        data = {name: row[name] for name in record_type.model_fields}
        for name in times.intersection(data):
            if data[name] is not None:
                data[name] = ns_to_datetime(data[name])
        out.append(record_type.model_validate(data))
    return out


def _time_columns(table: Table) -> set[str]:
    """Columns holding ns timestamps (every ``BIGINT`` of these tables)."""
    return {c.name for c in table.columns if isinstance(c.type, BigInteger)}


def _polars_type(column: Column[Any]) -> pl.DataType:
    if isinstance(column.type, DecimalText | Double):
        return pl.Float64()
    if isinstance(column.type, Integer):  # BIGINT times included; cast below
        return pl.Int64()
    if isinstance(column.type, Boolean):
        return pl.Boolean()
    return pl.String()  # text, and JSON as canonical text


def read_table(
    conn_or_engine: Connection | Engine,
    table: Table,
    run_id: str | None = None,
    portfolio: str | None = None,
) -> pl.DataFrame:
    """A trading table as polars: money as ``Float64``, times as ``Datetime("ns", "UTC")``;
    ``portfolio`` keeps one portfolio's rows."""
    spec = next(s for s in _SPECS.values() if s.table is table)
    rows = _rows(conn_or_engine, table, run_id, spec.order_by, portfolio)
    schema = {column.name: _polars_type(column) for column in table.columns}
    data = {name: [_cell(row[name], dtype) for row in rows] for name, dtype in schema.items()}
    frame = pl.DataFrame(data, schema=schema)
    return frame.with_columns(pl.col(name).cast(_TS) for name in sorted(_time_columns(table)))


def _cell(value: Any, dtype: pl.DataType) -> Any:
    if value is None:
        return None
    if isinstance(dtype, pl.Float64):
        return float(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def read_orders(
    conn_or_engine: Connection | Engine, run_id: str | None = None, portfolio: str | None = None
) -> pl.DataFrame:
    """Orders (latest state) with the cost estimate their risk decision showed.

    Adds ``estimated_fee`` and ``estimated_slippage`` (quote currency) from ``risk_decisions``.
    """
    frame = read_table(conn_or_engine, orders, run_id, portfolio)
    costs = read_table(conn_or_engine, risk_decisions, run_id, portfolio).select(
        "run_id", "portfolio", "intent_id", "estimated_fee", "estimated_slippage"
    )
    return frame.join(costs, on=["run_id", "portfolio", "intent_id"], how="left")


def read_fills(
    conn_or_engine: Connection | Engine, run_id: str | None = None, portfolio: str | None = None
) -> pl.DataFrame:
    return read_table(conn_or_engine, fills, run_id, portfolio)


def read_positions(
    conn_or_engine: Connection | Engine,
    run_id: str | None = None,
    *,
    latest: bool = False,
    portfolio: str | None = None,
) -> pl.DataFrame:
    """Position snapshots; ``latest=True`` keeps the last one per run, portfolio and asset."""
    frame = read_table(conn_or_engine, positions, run_id, portfolio)
    if latest:
        frame = frame.group_by("run_id", "portfolio", "asset", maintain_order=True).last()
    return frame


def read_equity(
    conn_or_engine: Connection | Engine, run_id: str | None = None, portfolio: str | None = None
) -> pl.DataFrame:
    return read_table(conn_or_engine, equity, run_id, portfolio)


def read_risk_decisions(
    conn_or_engine: Connection | Engine, run_id: str | None = None, portfolio: str | None = None
) -> pl.DataFrame:
    return read_table(conn_or_engine, risk_decisions, run_id, portfolio)


def read_reviews(
    conn_or_engine: Connection | Engine,
    run_id: str | None = None,
    *,
    status: str | None = None,
    portfolio: str | None = None,
) -> pl.DataFrame:
    """The review queue; ``status="queued"`` gives what still waits for a person."""
    frame = read_table(conn_or_engine, review_tickets, run_id, portfolio)
    return frame if status is None else frame.filter(pl.col("status") == status)
