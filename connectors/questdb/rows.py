"""Flow records → QuestDB rows (table, SYMBOL values, other columns, designated time in ns).

Pure: no client here. NaN and ``None`` values are left out of a row (QuestDB stores NULL);
``Decimal`` money becomes ``float`` (see :mod:`connectors.questdb.tables`), JSON-ish fields
compact JSON text, other timestamps :class:`TimestampNanos`-ready ns integers.

>>> from datetime import UTC, datetime
>>> from decimal import Decimal
>>> from schemas.trading import Fill
>>> fill = Fill(fill_id="f-1", order_id="o-1", asset="BTC/USDT", side="buy",
...             quantity=Decimal("0.5"), price=Decimal("100.25"), fee=Decimal("0.05"),
...             ts=datetime(2022, 1, 1, tzinfo=UTC))
>>> row = rows_of(fill, "run-1")[0]
>>> row.table, row.symbols, row.ts_ns
('fills', {'run_id': 'run-1', 'portfolio': 'default', 'asset': 'BTC/USDT', 'side': 'buy', 'liquidity': 'taker'}, 1640995200000000000)
>>> row.columns
{'fill_id': 'f-1', 'order_id': 'o-1', 'quantity': 0.5, 'price': 100.25, 'fee': 0.05, 'slippage_bps': 0.0}
>>> rows_of("not a record", "run-1")
[]
"""  # noqa: E501

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

import numpy as np
import orjson

from connectors.questdb.tables import TABLES
from connectors.store.market import candle_rows
from operators.portfolio.book import EquityPoint
from schemas.batches import CandleBatch, FeatureBatch
from schemas.common import datetime_to_ns
from schemas.signals import FusedSignal, Signal
from schemas.trading import Fill

ColumnValue = bool | int | float | str
_CANDLE_VALUES = ("open", "high", "low", "close", "volume", "trades")


@dataclass(frozen=True, slots=True)
class QuestRow:
    """One ILP row: ``ts_ns`` is the designated timestamp ``ts``."""

    table: str
    symbols: dict[str, str]
    columns: dict[str, ColumnValue]
    ts_ns: int


def _present(values: dict[str, Any]) -> dict[str, ColumnValue]:
    """Drop NULLs (None, NaN): ILP leaves an absent column NULL."""
    kept: dict[str, ColumnValue] = {}
    for name, value in values.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if isinstance(value, Decimal):
            value = float(value)
        elif isinstance(value, Enum):
            value = value.value
        kept[name] = value
    return kept


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


def _candle_rows(batch: CandleBatch) -> Iterator[QuestRow]:
    symbols = {"symbol": batch.symbol, "timeframe": batch.timeframe.value, "source": batch.source}
    for row in candle_rows(batch):
        values = {name: row[name] for name in _CANDLE_VALUES}
        yield QuestRow("candles", symbols, _present(values), row["ts"])


def _feature_rows(batch: FeatureBatch) -> Iterator[QuestRow]:
    candles = batch.candles
    symbols = {"symbol": candles.symbol, "timeframe": candles.timeframe.value}
    names = sorted(batch.columns)
    columns = [np.asarray(batch.columns[n], np.float64).tolist() for n in names]
    for i, (ts, close) in enumerate(
        zip(candles.ts_ns.tolist(), candles.close.tolist(), strict=True)
    ):
        values = {"close": close, **{n: col[i] for n, col in zip(names, columns, strict=True)}}
        yield QuestRow("features", symbols, _present(values), ts)


def _signal_rows(signal: Signal) -> Iterator[QuestRow]:
    symbols = {
        "asset": signal.asset,
        "origin": signal.origin,
        "timeframe": signal.timeframe.value,
        "direction": signal.direction.value,
    }
    columns = {
        "signal_id": signal.signal_id,
        "confidence": signal.confidence,
        "expires_at": datetime_to_ns(signal.expires_at),
        "meta": _json(signal.meta),
    }
    yield QuestRow("signals", symbols, _present(columns), datetime_to_ns(signal.timestamp))


def _fused_rows(fused: FusedSignal) -> Iterator[QuestRow]:
    symbols = {
        "asset": fused.asset,
        "direction": fused.direction.value,
        "decision": fused.decision.value,
    }
    columns = {
        "fused_id": fused.fused_id,
        "score": fused.score,
        "consensus": fused.consensus,
        "conflict": fused.conflict,
        "veto": fused.veto,
        "timeframe_scores": _json(dict(fused.timeframe_scores)),
        "contributions": _json([c.model_dump(mode="json") for c in fused.contributions]),
        "reasons": _json(list(fused.reasons)),
    }
    yield QuestRow("fused_signals", symbols, _present(columns), datetime_to_ns(fused.timestamp))


def _fill_rows(fill: Fill, run_id: str) -> Iterator[QuestRow]:
    symbols = {
        "run_id": run_id,
        "portfolio": fill.portfolio,
        "asset": fill.asset,
        "side": fill.side.value,
        "liquidity": fill.liquidity.value,
    }
    columns = {
        "fill_id": fill.fill_id,
        "order_id": fill.order_id,
        "quantity": fill.quantity,
        "price": fill.price,
        "fee": fill.fee,
        "mid_price": fill.mid_price,
        "slippage_bps": fill.slippage_bps,
    }
    yield QuestRow("fills", symbols, _present(columns), datetime_to_ns(fill.ts))


def _equity_rows(point: EquityPoint, run_id: str) -> Iterator[QuestRow]:
    columns: dict[str, Any] = {name: getattr(point, name) for name, _ in TABLES["equity"].columns}
    columns["exposure"] = _json({asset: str(v) for asset, v in point.exposure.items()})
    symbols = {"run_id": run_id, "portfolio": point.portfolio}
    yield QuestRow("equity", symbols, _present(columns), datetime_to_ns(point.ts))


_BUILDERS: dict[type, Callable[[Any, str], Iterator[QuestRow]]] = {
    CandleBatch: lambda item, _run: _candle_rows(item),
    FeatureBatch: lambda item, _run: _feature_rows(item),
    Signal: lambda item, _run: _signal_rows(item),
    FusedSignal: lambda item, _run: _fused_rows(item),
    Fill: _fill_rows,
    EquityPoint: _equity_rows,
}

TIMESERIES_TYPES: tuple[type, ...] = tuple(_BUILDERS)
"""The record types QuestDB stores (one table each)."""


def rows_of(item: Any, run_id: str) -> list[QuestRow]:
    """The rows of one flow item (bare or a ``(key, value)`` pair); none for other types."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        item = item[1]
    build = _BUILDERS.get(type(item))
    return [] if build is None else list(build(item, run_id))
