"""Bulk OHLCV history through ccxt: closed candles page by page, resumable, rate-limit aware.

:func:`fetch_candles` walks ``[since, until)`` one page (``page_size`` candles) at a time per
symbol with :class:`~connectors.feed.rest.RestHistory` (ccxt's rate limiter on; 429/418 waits
what ``Retry-After`` asks, transient errors back off) and hands every page to ``write``
before asking for the next, so an interrupted fetch resumes from what was written:
``resume_after`` gives, per symbol, the last open time already stored. Only *closed* candles
(``open + timeframe <= the exchange's clock``) are fetched.

:class:`CandleFile` and :class:`CandleStoreTarget` are the two destinations of ``quorum data
fetch`` (``--out FILE`` or ``--store URL``); both are idempotent per (symbol, timeframe, open).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from connectors.feed.cursor import CandleRow
from connectors.feed.rest import RestCaller, RestHistory, RetryPolicy, make_exchange
from schemas.batches import CandleBatch
from schemas.common import Timeframe
from schemas.records import DeadLetter

_NS_PER_MS = 1_000_000

Progress = Callable[[str, int, int], None]
"""``(symbol, candles fetched so far, candles expected)`` after every page."""


@dataclass(frozen=True)
class HistoryRequest:
    """What to fetch: ``[since_ms, until_ms)`` of closed candles per symbol."""

    exchange: str
    symbols: tuple[str, ...]
    timeframe: Timeframe
    since_ms: int
    until_ms: int | None = None
    rest_url: str | None = None
    page_size: int = 1000

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("symbols: name at least one, e.g. BTC/USDT")
        if self.until_ms is not None and self.until_ms <= self.since_ms:
            raise ValueError(f"until ({self.until_ms}) must be after since ({self.since_ms})")
        if not 1 <= self.page_size <= 5000:
            raise ValueError(f"page_size must be within 1..5000, got {self.page_size}")


async def fetch_candles(
    request: HistoryRequest,
    write: Callable[[str, list[CandleRow]], None],
    *,
    resume_after: Mapping[str, int] | None = None,
    progress: Progress | None = None,
    retry: RetryPolicy | None = None,
) -> tuple[dict[str, int], list[DeadLetter]]:
    """Fetch and ``write`` every page; returns candles fetched per symbol and rejected rows."""
    tf_ms = request.timeframe.seconds * 1000
    rejected: list[DeadLetter] = []
    fetched = dict.fromkeys(request.symbols, 0)
    exchange = make_exchange(request.exchange, rest_url=request.rest_url)
    try:
        history = RestHistory(
            RestCaller(exchange, retry),
            f"ccxt:{request.exchange}",
            rejected.append,
            page_size=request.page_size,
        )
        await history.load_markets()
        now = await history.server_time_ms() or int(time.time() * 1000)
        end = now if request.until_ms is None else min(request.until_ms, now)
        for symbol in request.symbols:
            done = (resume_after or {}).get(symbol)
            first = -(-request.since_ms // tf_ms) * tf_ms
            start = first if done is None else max(first, done + tf_ms)
            expected = max(0, (end - start) // tf_ms)
            while start + tf_ms <= end:
                last = min(start + (request.page_size - 1) * tf_ms, end - tf_ms)
                rows = await history.closed_candles(symbol, request.timeframe, start, last, now)
                write(symbol, rows)
                fetched[symbol] += len(rows)
                if progress is not None:
                    progress(symbol, fetched[symbol], expected)
                start = last + tf_ms
    finally:
        await exchange.close()
    return fetched, rejected


def rows_to_batch(symbol: str, timeframe: Timeframe, rows: Sequence[CandleRow]) -> CandleBatch:
    """Fetched rows as a candle batch (open times in ns)."""
    table = np.array(rows, dtype=np.float64).reshape(-1, 7)
    return CandleBatch(
        symbol,
        timeframe,
        np.array([r[0] for r in rows], dtype=np.int64) * _NS_PER_MS,
        *(np.ascontiguousarray(table[:, i]) for i in range(1, 6)),
        np.array([r[6] for r in rows], dtype=np.int64),
        "fetch",
    )


class CandleFile:
    """A Parquet (or CSV) candle file that ``quorum run --data`` reads; rewritten per page.

    Existing rows are kept (a re-fetched candle replaces its old row), so the file is both
    the output and the resume point.
    """

    def __init__(self, path: Path, timeframe: Timeframe) -> None:
        self.path = path
        self.timeframe = timeframe
        self.frame = self._read() if path.exists() else _empty()

    def last_open_ms(self) -> dict[str, int]:
        mine = self.frame.filter(pl.col("timeframe") == self.timeframe.value)
        last = mine.group_by("symbol").agg(pl.col("ts").max().dt.epoch("ms"))
        return {str(s): int(ts) for s, ts in last.iter_rows()}

    def write(self, symbol: str, rows: list[CandleRow]) -> None:
        if not rows:
            return
        new = _frame(rows_to_batch(symbol, self.timeframe, rows))
        self.frame = (
            pl.concat([self.frame, new])
            .unique(["symbol", "timeframe", "ts"], keep="last", maintain_order=True)
            .sort("symbol", "timeframe", "ts")
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix.lower() == ".csv":
            self.frame.write_csv(self.path)
        else:
            self.frame.write_parquet(self.path)

    def _read(self) -> pl.DataFrame:
        if self.path.suffix.lower() == ".csv":
            frame = pl.read_csv(self.path, try_parse_dates=True)
        else:
            frame = pl.read_parquet(self.path)
        missing = [c for c in _empty().columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{self.path}: not a fetched candle file (missing {missing})")
        return frame.select(_empty().columns).cast(_empty().schema)  # type: ignore[arg-type]


class CandleStoreTarget:
    """The store's candles table (upserted, so a re-fetch is harmless)."""

    def __init__(self, url: str, timeframe: Timeframe) -> None:
        from connectors.store.engine import open_store

        self.engine = open_store(url)
        self.timeframe = timeframe

    def last_open_ms(self) -> dict[str, int]:
        from connectors.store.market import candle_inventory

        inventory = candle_inventory(self.engine).filter(
            pl.col("timeframe") == self.timeframe.value
        )
        return {
            str(row["symbol"]): int(row["last_ts"].timestamp() * 1000)
            for row in inventory.iter_rows(named=True)
        }

    def write(self, symbol: str, rows: list[CandleRow]) -> None:
        from connectors.store.market import write_candles

        if rows:
            write_candles(self.engine, [rows_to_batch(symbol, self.timeframe, rows)])

    def close(self) -> None:
        self.engine.dispose()


def _empty() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "symbol": pl.String,
            "timeframe": pl.String,
            "ts": pl.Datetime("ns", "UTC"),
            "open": pl.Float64,
            "high": pl.Float64,
            "low": pl.Float64,
            "close": pl.Float64,
            "volume": pl.Float64,
            "trades": pl.Int64,
        }
    )


def _frame(batch: CandleBatch) -> pl.DataFrame:
    n = len(batch)
    return pl.DataFrame(
        {
            "symbol": [batch.symbol] * n,
            "timeframe": [batch.timeframe.value] * n,
            "ts": pl.from_epoch(pl.Series(batch.ts_ns), time_unit="ns").dt.replace_time_zone("UTC"),
            "open": batch.open,
            "high": batch.high,
            "low": batch.low,
            "close": batch.close,
            "volume": batch.volume,
            "trades": batch.trades,
        },
        schema=_empty().schema,
    )
