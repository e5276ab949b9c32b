"""Vectorized OHLCV aggregation of rows grouped by bucket, and batch concatenation.

Both candle cores end in :func:`aggregate_sorted`: rows sorted by bucket (trades as
one-price rows, or sub-candles) collapse into one candle per bucket with numpy ``reduceat``,
never a Python loop per row.

Volume is ``np.add.reduceat`` over all rows of a bucket at once, in row order. That is exactly
what pandas >= 3.0 does for a monotonic ``resample(...).sum()`` / ``groupby(...).sum()``
(``pandas.core.groupby.ops.BaseGrouper._reduceat_aggregate``), so a candle's volume equals
pandas' bit for bit. The cores sum a bucket only once, when it closes and all its rows are
known, so the result does not depend on how the stream was cut into batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from schemas.batches import CandleBatch, TradeBatch
from schemas.common import Timeframe


@dataclass(frozen=True, slots=True)
class OhlcvColumns:
    """One candle per bucket, as parallel numpy columns (``ts_ns`` = bucket start)."""

    ts_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    trades: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_ns)

    def to_batch(
        self, symbol: str, timeframe: Timeframe, source: str, spread: np.ndarray | None = None
    ) -> CandleBatch:
        return CandleBatch(
            symbol,
            timeframe,
            self.ts_ns,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.trades,
            source,
            spread,
        )


_FIRST_ROW = np.zeros(1, dtype=np.intp)


def aggregate_sorted(
    bucket_ns: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    trades: np.ndarray | None = None,
) -> OhlcvColumns:
    """Collapse rows into one OHLCV candle per bucket.

    ``bucket_ns`` must be non-decreasing (rows of a bucket contiguous, in the order that decides
    open and close). ``trades=None`` counts one trade per row.

    >>> price = np.array([10.0, 12.0, 9.0, 11.0, 20.0])
    >>> c = aggregate_sorted(np.array([0, 0, 0, 0, 60]), price, price, price, price,
    ...                      np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    >>> c.open.tolist(), c.high.tolist(), c.low.tolist(), c.close.tolist()
    ([10.0, 20.0], [12.0, 20.0], [9.0, 20.0], [11.0, 20.0])
    >>> c.volume.tolist(), c.trades.tolist()
    ([10.0, 5.0], [4, 1])
    """
    n = len(bucket_ns)
    if n == 0:
        no_ints, no_floats = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        return OhlcvColumns(no_ints, *([no_floats] * 5), no_ints)
    if bucket_ns[0] == bucket_ns[-1]:  # one bucket (a live feed's minute): no group search
        return OhlcvColumns(
            ts_ns=bucket_ns[:1].copy(),
            open=open_[:1].copy(),
            high=np.maximum.reduceat(high, _FIRST_ROW),
            low=np.minimum.reduceat(low, _FIRST_ROW),
            close=close[-1:].copy(),
            volume=np.add.reduceat(volume, _FIRST_ROW),
            trades=np.array([n], dtype=np.int64)
            if trades is None
            else np.add.reduceat(np.asarray(trades, dtype=np.int64), _FIRST_ROW),
        )
    new_bucket = np.empty(n, dtype=bool)
    new_bucket[0] = True
    np.not_equal(bucket_ns[1:], bucket_ns[:-1], out=new_bucket[1:])
    starts = np.flatnonzero(new_bucket)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:] - 1
    ends[-1] = n - 1
    counts = (
        ends - starts + 1
        if trades is None
        else np.add.reduceat(np.asarray(trades, dtype=np.int64), starts)
    )
    return OhlcvColumns(
        ts_ns=bucket_ns[starts],
        open=open_[starts],
        high=np.maximum.reduceat(high, starts),
        low=np.minimum.reduceat(low, starts),
        close=close[ends],
        volume=np.add.reduceat(volume, starts),
        trades=counts.astype(np.int64, copy=False),
    )


def concat_trades(symbol: str, batches: Sequence[TradeBatch], source: str = "replay") -> TradeBatch:
    """One batch holding the rows of ``batches`` in order.

    >>> a = TradeBatch.from_columns("X/Y", [1], [1.0], [1.0])
    >>> concat_trades("X/Y", [a, a]).ts_ns.tolist()
    [1, 1]
    """
    if not batches:
        return TradeBatch.empty(symbol, source)
    if len(batches) == 1:
        return batches[0]
    return TradeBatch(
        symbol,
        np.concatenate([b.ts_ns for b in batches]),
        np.concatenate([b.price for b in batches]),
        np.concatenate([b.amount for b in batches]),
        np.concatenate([b.trade_id for b in batches]),
        np.concatenate([b.side for b in batches]),
        batches[0].source,
    )


def concat_candles(
    symbol: str, timeframe: Timeframe, batches: Sequence[CandleBatch], source: str = "replay"
) -> CandleBatch:
    """One batch holding the candles of ``batches`` in order.

    >>> a = CandleBatch.from_columns("X/Y", "1m", [0], [1], [1], [1], [1], [1])
    >>> len(concat_candles("X/Y", Timeframe.M1, [a, a, CandleBatch.empty("X/Y", "1m")]))
    2
    """
    parts = [b for b in batches if len(b)]
    if not parts:
        return CandleBatch.empty(symbol, timeframe, source)
    if len(parts) == 1:
        return parts[0]
    return CandleBatch(
        symbol,
        timeframe,
        np.concatenate([b.ts_ns for b in parts]),
        np.concatenate([b.open for b in parts]),
        np.concatenate([b.high for b in parts]),
        np.concatenate([b.low for b in parts]),
        np.concatenate([b.close for b in parts]),
        np.concatenate([b.volume for b in parts]),
        np.concatenate([b.trades for b in parts]),
        parts[0].source,
        _concat_spreads(parts),
    )


def _concat_spreads(parts: Sequence[CandleBatch]) -> np.ndarray | None:
    """The parts' spreads end to end (NaN for a part without), or None when none has one."""
    if all(b.spread is None for b in parts):
        return None
    return np.concatenate(
        [b.spread if b.spread is not None else np.full(len(b), np.nan) for b in parts]
    )


def mean_spread(bucket_ns: np.ndarray, spread: np.ndarray, quotes: np.ndarray) -> np.ndarray:
    """Per bucket (rows sorted by bucket), the mean spread of all the quotes of its rows: each
    row's mean spread weighted by its quote count (NaN when no row has one).

    >>> mean_spread(np.array([0, 0, 5]), np.array([1.0, 4.0, np.nan]), np.array([3, 1, 2]))
    array([1.75,  nan])
    """
    starts = np.flatnonzero(np.diff(bucket_ns, prepend=bucket_ns[:1] - 1))
    known = np.isfinite(spread) & (quotes > 0)
    weight = np.where(known, quotes, 0).astype(np.float64)
    total = np.add.reduceat(np.where(known, spread, 0.0) * weight, starts)
    count = np.add.reduceat(weight, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def copy_trades(batch: TradeBatch) -> TradeBatch:
    """An independent copy of a trade batch (its arrays copied): for cheap state snapshots."""
    return TradeBatch(
        batch.symbol,
        batch.ts_ns.copy(),
        batch.price.copy(),
        batch.amount.copy(),
        batch.trade_id.copy(),
        batch.side.copy(),
        batch.source,
    )


def copy_candles(batch: CandleBatch) -> CandleBatch:
    """An independent copy of a candle batch (its arrays copied): for cheap state snapshots."""
    return CandleBatch(
        batch.symbol,
        batch.timeframe,
        batch.ts_ns.copy(),
        batch.open.copy(),
        batch.high.copy(),
        batch.low.copy(),
        batch.close.copy(),
        batch.volume.copy(),
        batch.trades.copy(),
        batch.source,
        None if batch.spread is None else batch.spread.copy(),
    )
