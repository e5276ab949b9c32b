"""Quote files (best bid and ask) → 1-minute candles of the mid, the bid or the ask.

FX has no trades: platforms build FX candles from quotes. A quotes file has ``ts, bid, ask``
(optional ``bid_size, ask_size``, ``symbol``; see :data:`~connectors.files.reading.QUOTE_COLUMNS`).
Every quote update is a tick at the chosen price (``mid`` = (bid + ask) / 2 by default, or
``bid``/``ask``); ticks are grouped by UTC minute in time order (ties in file order) and
collapsed by the same core as trades (:func:`operators.candles.aggregate.aggregate_sorted`):
first, highest, lowest and last price. A quote has no traded volume: ``volume`` is 0 and
``trades`` counts the quote updates. The mean spread of the minute (``spread``, in price
units) of every intraday candle is kept beside them (:attr:`LoadedQuotes.spread`; ``quorum
features`` writes it as the ``spread`` column). A crossed quote (ask < bid)
or a non-positive price is dead-lettered with the reason; unreadable cells as for every file.

>>> from connectors.files import shipped_path
>>> q = load_quotes(shipped_path("btcusdt_quotes_2021-01-08"))
>>> q.symbols, len(q), int(q.frame["trades"][0]), round(float(q.spread["spread"][0]), 4)
(('BTC/USDT',), 1, 451, 2.3613)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from connectors.files.cells import parse_float, parse_timestamp
from connectors.files.loaders import LoadedCandles, Parser, _frame, _parse_file
from connectors.files.reading import QUOTE_COLUMNS, check_path, read_frame, resolve_columns
from operators.candles.aggregate import aggregate_sorted
from operators.candles.timeframes import floor_to
from schemas.common import INTRADAY_TIMEFRAMES, NS_PER_MINUTE, Timeframe, ns_to_datetime
from schemas.records import DeadLetter

QuotePrice = Literal["mid", "bid", "ask"]


@dataclass(frozen=True)
class LoadedQuotes(LoadedCandles):
    """1-minute candles built from a quotes file, and the mean spread of each minute."""

    spread: pl.DataFrame = field(default_factory=pl.DataFrame)
    """``symbol``, ``timeframe`` (1m … 4h), ``ts_ns`` (candle open), ``spread``: the mean
    ask − bid of the quotes in each intraday candle."""
    quotes: int = 0


def quote_price(bid: np.ndarray, ask: np.ndarray, price: QuotePrice) -> np.ndarray:
    """The tick price of each quote.

    >>> quote_price(np.array([1.0]), np.array([1.2]), "mid").round(6).tolist()
    [1.1]
    """
    if price == "mid":
        return (bid + ask) / 2
    if price == "bid":
        return bid
    if price == "ask":
        return ask
    raise ValueError(f"quote price must be mid, bid or ask, got {price!r}")


def load_quotes(
    path: str | Path,
    symbol: str | None = None,
    known: Iterable[str] = (),
    price: QuotePrice = "mid",
) -> LoadedQuotes:
    """Read a quotes file into 1-minute candles of ``price`` (see the module docstring)."""
    path = check_path(path)
    raw = read_frame(path)
    resolved = resolve_columns(path, raw.columns, QUOTE_COLUMNS)
    parsers: dict[str, Parser] = {"ts": parse_timestamp}
    for name in ("bid", "ask", "bid_size", "ask_size"):
        parsers[name] = lambda p, s, name=name: parse_float(p, name, s)
    table = _parse_file(path, raw, resolved, parsers, symbol, known)
    columns = dict(table.columns)
    bid, ask = columns["bid"], columns["ask"]
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(bid) & np.isfinite(ask) & (bid > 0) & (ask >= bid))
    letters = list(table.dead_letters) + _bad_quotes(path, columns, bad, table.row_numbers)
    good = {name: values[~bad] for name, values in columns.items()}
    ticks = _frame(
        {
            "symbol": good["symbol"],
            "ts_ns": good["ts_ns"],
            "price": quote_price(good["bid"], good["ask"], price),
            "spread": good["ask"] - good["bid"],
        },
        {"symbol": pl.String(), "ts_ns": pl.Int64(), "price": pl.Float64(), "spread": pl.Float64()},
    )
    candles, spreads = [], []
    for (name,), rows in ticks.group_by("symbol", maintain_order=True):
        minute = floor_to(rows["ts_ns"].to_numpy(), NS_PER_MINUTE)
        tick = rows["price"].to_numpy()
        ohlc = aggregate_sorted(minute, tick, tick, tick, tick, np.zeros(len(tick)))
        candles.append(
            pl.DataFrame(
                {
                    "symbol": [str(name)] * len(ohlc),
                    "ts_ns": ohlc.ts_ns,
                    "open": ohlc.open,
                    "high": ohlc.high,
                    "low": ohlc.low,
                    "close": ohlc.close,
                    "volume": ohlc.volume,
                    "trades": ohlc.trades,
                }
            )
        )
        for timeframe in INTRADAY_TIMEFRAMES:
            bucket = pl.Series("ts_ns", floor_to(rows["ts_ns"].to_numpy(), timeframe.ns))
            mean = rows.group_by(bucket, maintain_order=True).agg(pl.col("spread").mean())
            spreads.append(
                mean.with_columns(
                    pl.lit(str(name)).alias("symbol"), pl.lit(timeframe.value).alias("timeframe")
                )
            )
    frame = pl.concat(candles) if candles else pl.DataFrame()
    timeframes = dict.fromkeys(ticks["symbol"].unique().to_list(), Timeframe.M1)
    frame = frame.with_columns(pl.lit(Timeframe.M1.value).alias("timeframe")).select(
        "symbol", "timeframe", "ts_ns", "open", "high", "low", "close", "volume", "trades"
    )
    spread = (
        pl.concat(spreads).select("symbol", "timeframe", "ts_ns", "spread")
        if spreads
        else pl.DataFrame()
    )
    return LoadedQuotes(
        path, frame, timeframes, letters, table.rows_read, False, spread, int((~bad).sum())
    )


def _bad_quotes(
    path: Path, columns: dict[str, np.ndarray], bad: np.ndarray, row_numbers: np.ndarray
) -> list[DeadLetter]:
    letters = []
    for i in np.flatnonzero(bad).tolist():
        bid, ask = float(columns["bid"][i]), float(columns["ask"][i])
        if not (np.isfinite(bid) and np.isfinite(ask)):
            reason, problem = "non_finite_price", "prices must be finite"
        elif bid <= 0:
            reason, problem = "non_positive_price", "prices must be > 0"
        else:
            reason, problem = "crossed_quote", "ask below bid"
        letters.append(
            DeadLetter(
                source=f"file:{path.name}",
                symbol=str(columns["symbol"][i]),
                reason=reason,
                detail=f"{path.name}: quote bid {bid!r}, ask {ask!r}: {problem}",
                raw=json.dumps(
                    {"ts_ns": int(columns["ts_ns"][i]), "bid": str(bid), "ask": str(ask)}
                ),
                ts=ns_to_datetime(int(columns["ts_ns"][i])),
                occurrence=f"row {int(row_numbers[i])}",
            )
        )
    return letters
