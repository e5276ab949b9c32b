"""What a market-data file holds: its columns, their meaning, and reading it whole."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

from connectors.files.errors import MarketDataFileError

Kind = Literal["trades", "candles", "quotes"]

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv",)


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """A normalized field, the column names accepted for it, and whether it is required."""

    name: str
    aliases: tuple[str, ...]
    required: bool = True


_TS = ColumnSpec("ts", ("ts", "timestamp", "time", "datetime", "date", "open_time"))
_SYMBOL = ColumnSpec("symbol", ("symbol", "pair", "instrument"), required=False)

TRADE_COLUMNS: tuple[ColumnSpec, ...] = (
    _TS,
    ColumnSpec("price", ("price",)),
    ColumnSpec("amount", ("amount", "quantity", "qty", "size")),
    ColumnSpec("trade_id", ("trade_id", "id", "tid"), required=False),
    ColumnSpec("side", ("side", "taker_side"), required=False),
    ColumnSpec("buyer_maker", ("buyer_maker", "is_buyer_maker"), required=False),
    _SYMBOL,
)
"""Fields of a trades file and the column names accepted for each."""

CANDLE_COLUMNS: tuple[ColumnSpec, ...] = (
    _TS,
    ColumnSpec("open", ("open",)),
    ColumnSpec("high", ("high",)),
    ColumnSpec("low", ("low",)),
    ColumnSpec("close", ("close",)),
    ColumnSpec("volume", ("volume", "vol"), required=False),
    ColumnSpec("trades", ("trades", "trade_count", "num_trades", "count"), required=False),
    ColumnSpec(
        "adj_close", ("adj_close", "adj close", "adjusted_close", "adjclose"), required=False
    ),
    _SYMBOL,
)
"""Fields of a candles file and the column names accepted for each."""

QUOTE_COLUMNS: tuple[ColumnSpec, ...] = (
    _TS,
    ColumnSpec("bid", ("bid", "bid_price", "bid_px")),
    ColumnSpec("ask", ("ask", "ask_price", "ask_px")),
    ColumnSpec("bid_size", ("bid_size", "bid_qty", "bid_amount"), required=False),
    ColumnSpec("ask_size", ("ask_size", "ask_qty", "ask_amount"), required=False),
    _SYMBOL,
)
"""Fields of a quotes file (best bid and ask; FX has no trades) and the accepted names."""

_ORDER_BOOK_COLUMNS = frozenset({"update_type", "first_update_id", "last_update_id", "level"})


def _describe(columns: Sequence[str]) -> str:
    return ", ".join(repr(c) for c in columns) if columns else "none"


def resolve_columns(
    path: Path, columns: Sequence[str], specs: Sequence[ColumnSpec]
) -> dict[str, str]:
    """Map each field to the file's column for it, or fail naming what is missing.

    >>> resolve_columns(Path("t.csv"), ["Timestamp", "Price", "qty"], TRADE_COLUMNS)
    {'ts': 'Timestamp', 'price': 'Price', 'amount': 'qty'}
    >>> resolve_columns(Path("t.csv"), ["ts", "amount"], TRADE_COLUMNS)
    Traceback (most recent call last):
    ...
    connectors.files.errors.MarketDataFileError: t.csv: missing required column 'price' ...
    """
    by_lower: dict[str, str] = {c.strip().lower(): c for c in columns}
    resolved: dict[str, str] = {}
    for spec in specs:
        found = [by_lower[a] for a in spec.aliases if a in by_lower]
        if len(found) > 1:
            raise MarketDataFileError(
                f"{path.name}: columns {_describe(found)} all mean {spec.name!r}; keep one of them"
            )
        if found:
            resolved[spec.name] = found[0]
        elif spec.required:
            raise MarketDataFileError(
                f"{path.name}: missing required column {spec.name!r} "
                f"(accepted names: {', '.join(spec.aliases)}); found columns: "
                f"{_describe(columns)}"
            )
    return resolved


# --------------------------------------------------------------------------------- reading


def check_path(path: str | Path) -> Path:
    path = Path(path)
    name = path.name.lower()
    if not name.endswith(PARQUET_SUFFIXES + CSV_SUFFIXES):
        raise MarketDataFileError(
            f"{path.name}: unknown file type {path.suffix or '(none)'!r}; expected one of "
            f"{', '.join(PARQUET_SUFFIXES + CSV_SUFFIXES)}"
        )
    if not path.is_file():
        raise MarketDataFileError(f"{path}: no such file")
    return path


def _is_parquet(path: Path) -> bool:
    return path.name.lower().endswith(PARQUET_SUFFIXES)


def read_columns(path: Path) -> list[str]:
    try:
        if _is_parquet(path):
            return list(pl.read_parquet_schema(path))
        return pl.read_csv(path, infer_schema=False, n_rows=0).columns
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise MarketDataFileError(f"{path.name}: cannot read the file: {exc}") from None


def read_frame(path: Path) -> pl.DataFrame:
    """The whole file; CSV cells stay text so one bad cell cannot fail the file."""
    try:
        if _is_parquet(path):
            frame = pl.read_parquet(path)
        else:
            frame = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise MarketDataFileError(f"{path.name}: cannot read the file: {exc}") from None
    if frame.height == 0:
        raise MarketDataFileError(f"{path.name}: the file has no rows")
    return frame


def detect_kind(path: str | Path) -> Kind:
    """``"trades"``, ``"candles"`` or ``"quotes"``, from the file's columns (header only).

    >>> from connectors.files import shipped_path
    >>> detect_kind(shipped_path("alts-btc_5m_2018-01")), detect_kind(shipped_path(
    ...     "btcusdt_trades_2021-01-08")), detect_kind(shipped_path("btcusdt_quotes_2021-01-08"))
    ('candles', 'trades', 'quotes')
    """
    path = check_path(path)
    columns = read_columns(path)
    lower = {c.strip().lower() for c in columns}
    quote_fields = {s.name for s in QUOTE_COLUMNS[1:3] if lower.intersection(s.aliases)}
    if quote_fields == {"bid", "ask"} and not lower & {"update_type", "first_update_id"}:
        return "quotes"
    if lower & _ORDER_BOOK_COLUMNS:
        raise MarketDataFileError(
            f"{path.name}: looks like order-book data (columns {_describe(columns)}); "
            "replay reads trades, quotes (ts, bid, ask) or candles"
        )
    has = {s.name for s in TRADE_COLUMNS + CANDLE_COLUMNS if lower.intersection(s.aliases)}
    if {"open", "high", "low", "close"} <= has:
        return "candles"
    if {"price", "amount"} <= has:
        return "trades"
    raise MarketDataFileError(
        f"{path.name}: neither trades (ts, price, amount) nor candles (ts, open, high, low, "
        f"close); found columns: {_describe(columns)}"
    )
