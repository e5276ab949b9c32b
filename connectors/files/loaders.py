"""Load trades and candles files into normalized, sorted polars frames plus dead letters."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl

from connectors.files.cells import (
    FLAG_WORDS,
    SIDE_WORDS,
    ParsedColumn,
    parse_count,
    parse_float,
    parse_symbols,
    parse_timestamp,
    parse_trade_id,
    parse_words,
)
from connectors.files.errors import MISSING_VALUE, UNPARSEABLE_VALUE, MarketDataFileError
from connectors.files.reading import (
    CANDLE_COLUMNS,
    TRADE_COLUMNS,
    Kind,
    check_path,
    detect_kind,
    read_frame,
    resolve_columns,
)
from connectors.files.symbols import normalize_symbol, symbol_from_filename
from operators.candles.corporate_actions import CorporateAction, actions_of, adjustment_factors
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import Timeframe, ns_to_datetime
from schemas.records import DeadLetter


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _shown(value: Any) -> str:
    """A cell as a dead-letter detail shows it: text quoted, datetimes in ISO 8601."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return repr(value)


def raw_json(row: Mapping[str, Any]) -> str:
    """A row as JSON text; non-finite floats and datetimes become strings.

    >>> raw_json({"price": float("nan"), "amount": 1.0})
    '{"price": "nan", "amount": 1.0}'
    """
    return json.dumps({k: _json_value(v) for k, v in row.items()}, default=str)


def _dead_letters(
    path: Path,
    raw: pl.DataFrame,
    parsed: Mapping[str, ParsedColumn],
    bad: np.ndarray,
    symbols: np.ndarray,
) -> list[DeadLetter]:
    """One dead letter per bad row, naming every field that failed and its value."""
    letters: list[DeadLetter] = []
    stamps = parsed["ts"]
    for i in np.flatnonzero(bad):
        row = raw.row(int(i), named=True)
        reasons: list[str] = []
        details: list[str] = []
        for name, p in parsed.items():
            if p.missing[i]:
                reasons.append(MISSING_VALUE)
                details.append(f"{name} (column {p.column!r}) is missing")
            elif p.invalid[i]:
                reasons.append(UNPARSEABLE_VALUE)
                details.append(f"{name} (column {p.column!r}) {_shown(row[p.column])} {p.problem}")
        ts_ok = not (stamps.missing[i] or stamps.invalid[i])
        symbol = symbols[i]
        letters.append(
            DeadLetter(
                source=f"file:{path.name}",
                symbol=symbol if isinstance(symbol, str) else None,
                reason=reasons[0],
                detail=f"{path.name} row {i + 1}: " + "; ".join(details),
                raw=raw_json(row),
                ts=ns_to_datetime(int(stamps.values[i])) if ts_ok else None,
            )
        )
    return letters


def _row_symbols(
    path: Path,
    raw: pl.DataFrame,
    columns: Mapping[str, str],
    symbol: str | None,
    known: Iterable[str] = (),
) -> ParsedColumn:
    """The symbol of every row: from the symbol column, else the argument, else the name
    (a pair, or a plain ticker among the ``known`` instruments)."""
    if "symbol" in columns:
        return parse_symbols(path, raw[columns["symbol"]])
    chosen = normalize_symbol(symbol) if symbol else symbol_from_filename(path, known)
    if chosen is None:
        raise MarketDataFileError(
            f"{path.name}: cannot tell the symbol: the file has no 'symbol' column and its name "
            "does not start with a pair (e.g. btc-usdt_… or btcusdt_…) or a configured "
            "instrument (nvda_…); pass it with --symbol, e.g. --symbol NVDA"
        )
    nothing = np.zeros(raw.height, dtype=bool)
    return ParsedColumn("", np.full(raw.height, chosen, dtype=object), nothing, nothing, "")


def _rows_of_symbol(path: Path, symbols: ParsedColumn, symbol: str) -> np.ndarray:
    """Rows of the requested symbol in a file with a symbol column (plus rows without one,
    which become dead letters)."""
    wanted = normalize_symbol(symbol)
    is_wanted = symbols.values == wanted
    if not is_wanted.any():
        found = sorted(set(symbols.values[~symbols.missing].tolist()))
        raise MarketDataFileError(
            f"{path.name}: no rows for symbol {wanted!r}; the file holds {', '.join(found)}"
        )
    return is_wanted | symbols.missing


@dataclass(frozen=True, slots=True)
class _Table:
    """Parsed file: good rows as numpy columns, dead letters for the others."""

    columns: dict[str, np.ndarray]
    dead_letters: list[DeadLetter]
    rows_read: int


Parser = Callable[[Path, pl.Series], ParsedColumn]


def _parse_file(
    path: Path,
    raw: pl.DataFrame,
    resolved: Mapping[str, str],
    parsers: Mapping[str, Parser],
    symbol: str | None,
    known: Iterable[str] = (),
) -> _Table:
    symbols = _row_symbols(path, raw, resolved, symbol, known)
    if symbol and "symbol" in resolved:
        keep = _rows_of_symbol(path, symbols, symbol)
        raw, symbols = raw.filter(pl.Series(keep)), symbols.select(keep)
    parsed = {
        name: parse(path, raw[resolved[name]])
        for name, parse in parsers.items()
        if name in resolved
    }
    if "symbol" in resolved:
        parsed["symbol"] = symbols
    bad = np.zeros(raw.height, dtype=bool)
    for p in parsed.values():
        bad |= p.missing | p.invalid
    letters = _dead_letters(path, raw, parsed, bad, symbols.values) if bad.any() else []
    good = ~bad
    columns = {name: p.values[good] for name, p in parsed.items() if name != "symbol"}
    columns["ts_ns"] = columns.pop("ts")
    columns["symbol"] = symbols.values[good]
    return _Table(columns, letters, raw.height)


def _frame(columns: Mapping[str, np.ndarray], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    frame = pl.DataFrame([pl.Series(name, columns[name], dtype) for name, dtype in schema.items()])
    return frame.sort(["symbol", "ts_ns"], maintain_order=True)


# --------------------------------------------------------------------------------- loaded


@dataclass(frozen=True)
class LoadedTrades:
    """Trades read from one file: the good rows and the rows that could not be read.

    ``frame`` columns: ``symbol`` str, ``ts_ns`` int64, ``price`` and ``amount`` float64,
    ``trade_id`` int64 (-1 unknown), ``side`` int8 (+1 buy, -1 sell, 0 unknown); sorted
    stably by (symbol, ts_ns).

    >>> from connectors.files import shipped_path
    >>> t = load_trades(shipped_path("btcusdt_trades_2021-01-08"))
    >>> batch = next(t.batches())
    >>> batch.symbol, len(batch), batch.side[:3].tolist()
    ('BTC/USDT', 2001, [-1, 1, 1])
    """

    path: Path
    frame: pl.DataFrame
    dead_letters: list[DeadLetter] = field(default_factory=list)
    rows_read: int = 0
    kind: ClassVar[Kind] = "trades"

    def __len__(self) -> int:
        return self.frame.height

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.frame["symbol"].unique(maintain_order=True).to_list())

    def batches(self, source: str = "replay") -> Iterator[TradeBatch]:
        """The whole file as one batch per symbol, in event-time order."""
        for (symbol,), rows in self.frame.group_by("symbol", maintain_order=True):
            yield TradeBatch(
                str(symbol),
                rows["ts_ns"].to_numpy(),
                rows["price"].to_numpy(),
                rows["amount"].to_numpy(),
                rows["trade_id"].to_numpy(),
                rows["side"].to_numpy(),
                source,
            )


@dataclass(frozen=True)
class LoadedCandles:
    """Candles read from one file: the good rows and the rows that could not be read.

    ``frame`` columns: ``symbol`` str, ``timeframe`` str, ``ts_ns`` int64 (open time),
    ``open``/``high``/``low``/``close``/``volume`` float64, ``trades`` int64 (0 unknown);
    sorted stably by (symbol, ts_ns). ``has_volume`` is False when the file had no volume
    column (volume is then 0).

    >>> from connectors.files import shipped_path
    >>> c = load_candles(shipped_path("alts-btc_5m_2018-01"))
    >>> len(c.symbols), set(c.timeframes.values())
    (10, {<Timeframe.M5: '5m'>})
    """

    path: Path
    frame: pl.DataFrame
    timeframes: dict[str, Timeframe]
    dead_letters: list[DeadLetter] = field(default_factory=list)
    rows_read: int = 0
    has_volume: bool = True
    kind: ClassVar[Kind] = "candles"

    def __len__(self) -> int:
        return self.frame.height

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.frame["symbol"].unique(maintain_order=True).to_list())

    def batches(self, source: str = "replay") -> Iterator[CandleBatch]:
        """The whole file as one batch per symbol, in open-time order."""
        for (symbol,), rows in self.frame.group_by("symbol", maintain_order=True):
            yield CandleBatch(
                str(symbol),
                self.timeframes[str(symbol)],
                rows["ts_ns"].to_numpy(),
                rows["open"].to_numpy(),
                rows["high"].to_numpy(),
                rows["low"].to_numpy(),
                rows["close"].to_numpy(),
                rows["volume"].to_numpy(),
                rows["trades"].to_numpy(),
                source,
            )


LoadedFile = LoadedTrades | LoadedCandles

_TRADE_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ts_ns": pl.Int64(),
    "price": pl.Float64(),
    "amount": pl.Float64(),
    "trade_id": pl.Int64(),
    "side": pl.Int8(),
}


def load_trades(
    path: str | Path, symbol: str | None = None, known: Iterable[str] = ()
) -> LoadedTrades:
    """Read a trades file (see the module docstring for the column and symbol rules).

    >>> from connectors.files import shipped_path
    >>> load_trades(shipped_path("btcusdt_trades_2021-01-08")).frame.row(0)
    ('BTC/USDT', 1610064000278000000, 39432.48, 0.000263, 553287559, -1)
    """
    path = check_path(path)
    raw = read_frame(path)
    resolved = resolve_columns(path, raw.columns, TRADE_COLUMNS)
    parsers: dict[str, Parser] = {
        "ts": parse_timestamp,
        "price": lambda p, s: parse_float(p, "price", s),
        "amount": lambda p, s: parse_float(p, "amount", s),
        "trade_id": parse_trade_id,
    }
    if "side" in resolved:
        parsers["side"] = lambda p, s: parse_words(p, "side", s, SIDE_WORDS, "is not buy or sell")
    elif "buyer_maker" in resolved:
        parsers["buyer_maker"] = lambda p, s: parse_words(
            p, "buyer_maker", s, FLAG_WORDS, "is not true or false"
        )
    table = _parse_file(path, raw, resolved, parsers, symbol, known)
    columns = dict(table.columns)
    n = len(columns["symbol"])
    columns.setdefault("trade_id", np.full(n, -1, dtype=np.int64))
    columns["side"] = columns.pop("buyer_maker", columns.get("side", np.zeros(n, dtype=np.int8)))
    frame = _frame(columns, _TRADE_SCHEMA)
    return LoadedTrades(path, frame, table.dead_letters, table.rows_read)


_CANDLE_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ts_ns": pl.Int64(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
    "trades": pl.Int64(),
}


def _infer_timeframes(path: Path, frame: pl.DataFrame) -> dict[str, Timeframe]:
    """Per symbol, the timeframe whose length is the most common spacing of its open times."""
    by_ns = {tf.ns: tf for tf in Timeframe}
    spacing = (
        frame.select("symbol", pl.col("ts_ns").diff().over("symbol").alias("step"))
        .filter(pl.col("step") > 0)
        .group_by("symbol", "step")
        .len()
        .sort(["symbol", "len", "step"], descending=[False, True, False])
        .group_by("symbol", maintain_order=True)
        .first()
    )
    found: dict[str, Timeframe] = {}
    for symbol, step, _count in spacing.iter_rows():
        if step not in by_ns:
            allowed = ", ".join(t.value for t in Timeframe)
            raise MarketDataFileError(
                f"{path.name}: cannot infer the timeframe of {symbol}: its most common spacing "
                f"is {step / 1e9:g} s, not one of {allowed}; pass it with --timeframe"
            )
        found[symbol] = by_ns[step]
    missing = [s for s in frame["symbol"].unique().to_list() if s not in found]
    if missing:
        if len(set(found.values())) != 1:
            raise MarketDataFileError(
                f"{path.name}: cannot infer the timeframe of {', '.join(sorted(missing))} "
                "(fewer than two candles); pass it with --timeframe"
            )
        only = next(iter(found.values()))
        found.update(dict.fromkeys(missing, only))
    return found


def load_candles(
    path: str | Path,
    symbol: str | None = None,
    timeframe: Timeframe | str | None = None,
    known: Iterable[str] = (),
    adjust: bool = False,
    actions: Sequence[CorporateAction] = (),
) -> LoadedCandles:
    """Read a candles file; the timeframe is inferred per symbol unless given.

    ``known`` names plain tickers (``NVDA``) a file name may start with, e.g. the configured
    instruments. ``adjust`` applies the file's adjusted-close column (splits and dividends,
    as stock data vendors publish it): open, high, low and close are multiplied by
    ``adj_close / close``; volume is left as traded. ``actions`` (splits and dividends of a
    corporate-actions file) back-adjust the raw prices instead
    (:mod:`operators.candles.corporate_actions`); the two together would adjust twice.

    >>> from connectors.files import shipped_path
    >>> c = load_candles(shipped_path("btc-perp_1m_2022-01"))
    >>> c.symbols, c.timeframes["BTC-PERP"].value, len(c)
    (('BTC-PERP',), '1m', 45031)
    """
    path = check_path(path)
    given = Timeframe.parse(timeframe) if isinstance(timeframe, str) else timeframe
    raw = read_frame(path)
    resolved = resolve_columns(path, raw.columns, CANDLE_COLUMNS)
    parsers: dict[str, Parser] = {"ts": parse_timestamp, "trades": parse_count}
    prices = ("open", "high", "low", "close", "volume", *(("adj_close",) if adjust else ()))
    if adjust and actions:
        raise MarketDataFileError(
            f"{path.name}: candles.adjust_prices (the adj_close column) and "
            "candles.corporate_actions both adjust the prices; keep one of them"
        )
    if adjust and "adj_close" not in resolved:
        raise MarketDataFileError(
            f"{path.name}: candles.adjust_prices needs an adjusted-close column (accepted "
            f"names: adj_close, adj close, adjusted_close, adjclose); found columns: "
            f"{', '.join(raw.columns)}"
        )
    for name in prices:
        parsers[name] = lambda p, s, name=name: parse_float(p, name, s)
    table = _parse_file(path, raw, resolved, parsers, symbol, known)
    columns = dict(table.columns)
    if adjust:
        factor = columns.pop("adj_close") / columns["close"]
        for name in ("open", "high", "low", "close"):
            columns[name] = columns[name] * factor
    if actions:
        _apply_actions(columns, actions)
    n = len(columns["symbol"])
    columns.setdefault("volume", np.zeros(n, dtype=np.float64))
    columns.setdefault("trades", np.zeros(n, dtype=np.int64))
    frame = _frame(columns, _CANDLE_SCHEMA)
    if given is not None:
        timeframes = dict.fromkeys(frame["symbol"].unique().to_list(), given)
    else:
        timeframes = _infer_timeframes(path, frame)
    frame = frame.with_columns(
        pl.col("symbol")
        .replace_strict(
            {s: t.value for s, t in timeframes.items()}, default=None, return_dtype=pl.String
        )
        .alias("timeframe")
    ).select("symbol", "timeframe", *[c for c in _CANDLE_SCHEMA if c != "symbol"])
    return LoadedCandles(
        path, frame, timeframes, table.dead_letters, table.rows_read, "volume" in resolved
    )


def _apply_actions(columns: dict[str, np.ndarray], actions: Sequence[CorporateAction]) -> None:
    """Back-adjust ``columns`` in place, symbol by symbol, in time order."""
    symbols = columns["symbol"]
    for symbol in np.unique(symbols):
        mine = actions_of(actions, str(symbol))
        if not mine:
            continue
        rows = np.flatnonzero(symbols == symbol)
        rows = rows[np.argsort(columns["ts_ns"][rows], kind="stable")]
        price, volume = adjustment_factors(columns["ts_ns"][rows], columns["close"][rows], mine)
        for name in ("open", "high", "low", "close"):
            columns[name][rows] = columns[name][rows] * price
        if "volume" in columns:
            columns["volume"][rows] = columns["volume"][rows] * volume


def load_market_data(
    path: str | Path,
    symbol: str | None = None,
    timeframe: Timeframe | str | None = None,
    known: Iterable[str] = (),
    quote_price: str = "mid",
    adjust: bool = False,
    actions: Sequence[CorporateAction] = (),
) -> LoadedFile:
    """Read a trades, quotes or candles file, whichever :func:`detect_kind` says it is
    (quotes become 1-minute candles of ``quote_price``: mid, bid or ask).

    >>> from connectors.files import shipped_path
    >>> load_market_data(shipped_path("xrp-eth_1m_2019-10")).kind
    'candles'
    """
    kind = detect_kind(path)
    if kind == "trades":
        return load_trades(path, symbol, known)
    if kind == "quotes":
        from connectors.files.quotes import load_quotes  # it builds on this module

        return load_quotes(path, symbol, known, quote_price)  # type: ignore[arg-type]
    return load_candles(path, symbol, timeframe, known, adjust, actions)
