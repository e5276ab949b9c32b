"""Recorded market data replayed on a loop, addressed by exchange time.

A :class:`Tape` holds one kind of event (trades, quotes, 1-minute bars) for one symbol as numpy
columns sorted by time. With a loop period ``p`` the tape repeats forever: global row ``g`` is row
``g % n`` of loop ``g // n``, shifted by ``(g // n) * p`` milliseconds. Everything the simulator
serves — WebSocket frames and REST answers — is read from tapes through these global indices, so
the two always agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

MS_PER_MINUTE = 60_000


class Tape:
    """Time-sorted columns of one event kind, optionally looping every ``period_ms``.

    >>> tape = Tape(np.array([0, 10, 20]), {"price": np.array([1.0, 2.0, 3.0])}, period_ms=30)
    >>> tape.count_at_or_before(35)          # rows at 0, 10, 20 and 30 (the second loop's first)
    4
    >>> ts, rows = tape.rows(2, 5)
    >>> ts.tolist(), tape.column("price", rows).tolist()
    ([20, 30, 40], [3.0, 1.0, 2.0])
    """

    def __init__(
        self, ts_ms: np.ndarray, columns: Mapping[str, np.ndarray], period_ms: int = 0
    ) -> None:
        ts = np.ascontiguousarray(ts_ms, dtype=np.int64)
        if len(ts) == 0:
            raise ValueError("a tape needs at least one row")
        if np.any(np.diff(ts) < 0):
            raise ValueError("tape timestamps must be sorted")
        for name, column in columns.items():
            if len(column) != len(ts):
                raise ValueError(f"column {name!r} has {len(column)} rows, expected {len(ts)}")
        span = int(ts[-1] - ts[0])
        if period_ms and period_ms <= span:
            raise ValueError(f"period_ms {period_ms} must exceed the tape's span {span} ms")
        self.ts_ms = ts
        self.columns = dict(columns)
        self.period_ms = int(period_ms)

    def __len__(self) -> int:
        return len(self.ts_ms)

    @property
    def first_ts(self) -> int:
        return int(self.ts_ms[0])

    @property
    def loops(self) -> bool:
        return self.period_ms > 0

    def _count(self, t_ms: int, side: str) -> int:
        n = len(self.ts_ms)
        if not self.loops:
            return int(np.searchsorted(self.ts_ms, t_ms, side=side))
        if t_ms < self.first_ts:
            return 0
        k = (t_ms - self.first_ts) // self.period_ms
        return int(k * n + np.searchsorted(self.ts_ms, t_ms - k * self.period_ms, side=side))

    def count_at_or_before(self, t_ms: int) -> int:
        """Number of events (over all loops) with time <= ``t_ms``."""
        return self._count(int(t_ms), "right")

    def count_before(self, t_ms: int) -> int:
        """Number of events (over all loops) with time < ``t_ms``."""
        return self._count(int(t_ms), "left")

    def rows(self, g0: int, g1: int) -> tuple[np.ndarray, np.ndarray]:
        """Times and within-loop row numbers of global rows ``[g0, g1)``."""
        n = len(self.ts_ms)
        g1 = max(g0, g1 if self.loops else min(g1, n))
        g = np.arange(g0, g1, dtype=np.int64)
        loop, row = np.divmod(g, n)
        return self.ts_ms[row] + loop * self.period_ms, row

    def column(self, name: str, rows: np.ndarray) -> np.ndarray:
        return self.columns[name][rows]

    def shifted(self, offset_ms: int) -> Tape:
        """The same tape with every time moved by ``offset_ms``."""
        return Tape(self.ts_ms + int(offset_ms), self.columns, self.period_ms)


@dataclass(frozen=True, slots=True)
class TradeTape:
    """Trades with contiguous venue ids: global row ``g`` has id ``first_id + g``.

    Aggregate trades (Binance ``aggTrade``) group consecutive trades with the same time, price
    and maker side; they live on their own tape whose rows point at their first and last trade.
    """

    trades: Tape  # columns: price, qty, buyer_maker (bool)
    first_id: int
    aggregates: Tape  # columns: price, qty, first_row, last_row, buyer_maker

    @classmethod
    def build(
        cls,
        ts_ms: np.ndarray,
        price: np.ndarray,
        qty: np.ndarray,
        buyer_maker: np.ndarray,
        first_id: int,
        period_ms: int = 0,
    ) -> TradeTape:
        ts = np.ascontiguousarray(ts_ms, dtype=np.int64)
        price = np.ascontiguousarray(price, dtype=np.float64)
        qty = np.ascontiguousarray(qty, dtype=np.float64)
        maker = np.ascontiguousarray(buyer_maker, dtype=bool)
        trades = Tape(ts, {"price": price, "qty": qty, "buyer_maker": maker}, period_ms)
        new_group = np.ones(len(ts), dtype=bool)
        new_group[1:] = (ts[1:] != ts[:-1]) | (price[1:] != price[:-1]) | (maker[1:] != maker[:-1])
        starts = np.flatnonzero(new_group)
        ends = np.append(starts[1:], len(ts)) - 1
        aggregates = Tape(
            ts[starts],
            {
                "price": price[starts],
                "qty": np.add.reduceat(qty, starts),
                "first_row": starts.astype(np.int64),
                "last_row": ends.astype(np.int64),
                "buyer_maker": maker[starts],
            },
            period_ms,
        )
        return cls(trades, int(first_id), aggregates)

    def __len__(self) -> int:
        return len(self.trades)

    def ids(self, g0: int, g1: int) -> np.ndarray:
        return np.arange(g0, max(g0, g1), dtype=np.int64) + self.first_id

    def row_of_id(self, trade_id: int) -> int:
        """Global row of a trade id (may be past the published range)."""
        return max(0, int(trade_id) - self.first_id)

    def aggregate_bounds(self, a0: int, a1: int) -> tuple[np.ndarray, np.ndarray]:
        """First and last trade id of global aggregates ``[a0, a1)``."""
        _, rows = self.aggregates.rows(a0, a1)
        loop = np.arange(a0, a0 + len(rows), dtype=np.int64) // len(self.aggregates)
        base = loop * len(self.trades) + self.first_id
        first = self.aggregates.column("first_row", rows) + base
        last = self.aggregates.column("last_row", rows) + base
        return first, last


@dataclass(frozen=True, slots=True)
class Klines:
    """Kline columns (Binance order) for consecutive buckets of one timeframe."""

    open_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote_volume: np.ndarray
    trades: np.ndarray
    taker_base: np.ndarray
    taker_quote: np.ndarray
    first_id: np.ndarray
    last_id: np.ndarray

    def __len__(self) -> int:
        return len(self.open_ms)

    @classmethod
    def empty(cls) -> Klines:
        f = np.zeros(0, dtype=np.float64)
        i = np.zeros(0, dtype=np.int64)
        return cls(i, f, f, f, f, f, f, i, f, f, i, i)


def _bucketed(bucket: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-empty bucket numbers of a sorted bucket column, with their first and last positions."""
    present, starts = np.unique(bucket, return_index=True)
    ends = np.append(starts[1:], len(bucket)) - 1
    return present, starts, ends


def klines_from_trades(
    tape: TradeTape, tf_ms: int, first_open: int, n_buckets: int, now_ms: int
) -> Klines:
    """Klines of ``n_buckets`` buckets from ``first_open`` built from the trades up to ``now_ms``.

    A bucket without trades repeats the previous close with zero volume (as Binance publishes);
    buckets before the first trade ever are left out.

    >>> tape = TradeTape.build(np.array([0, 30_000, 130_000]), np.array([1.0, 3.0, 2.0]),
    ...                        np.array([1.0, 1.0, 2.0]), np.array([False, True, False]), 7)
    >>> k = klines_from_trades(tape, 60_000, 0, 3, 200_000)
    >>> k.open_ms.tolist(), k.close.tolist(), k.volume.tolist(), k.trades.tolist()
    ([0, 60000, 120000], [3.0, 3.0, 2.0], [2.0, 0.0, 2.0], [2, 0, 1])
    """
    trades = tape.trades
    end = min(first_open + n_buckets * tf_ms, now_ms + 1)
    g0, g1 = trades.count_before(first_open), trades.count_before(end)
    ts, rows = trades.rows(g0, g1)
    price = trades.column("price", rows)
    qty = trades.column("qty", rows)
    taker_buy = ~trades.column("buyer_maker", rows)
    ids = tape.ids(g0, g1)
    n_buckets = min(n_buckets, max(0, (end - 1 - first_open) // tf_ms + 1))
    out_open = first_open + np.arange(n_buckets, dtype=np.int64) * tf_ms
    o = np.full(n_buckets, np.nan)
    h, lo, c = o.copy(), o.copy(), o.copy()
    v, qv, tb, tq = (np.zeros(n_buckets) for _ in range(4))
    n = np.zeros(n_buckets, dtype=np.int64)
    first_id = np.full(n_buckets, -1, dtype=np.int64)
    last_id = first_id.copy()
    if len(ts):
        bucket = (ts - first_open) // tf_ms
        present, starts, ends = _bucketed(bucket)
        o[present] = price[starts]
        c[present] = price[ends]
        h[present] = np.maximum.reduceat(price, starts)
        lo[present] = np.minimum.reduceat(price, starts)
        v[present] = np.add.reduceat(qty, starts)
        qv[present] = np.add.reduceat(qty * price, starts)
        tb[present] = np.add.reduceat(qty * taker_buy, starts)
        tq[present] = np.add.reduceat(qty * price * taker_buy, starts)
        n[present] = ends - starts + 1
        first_id[present] = ids[starts]
        last_id[present] = ids[ends]
    previous = None
    if g0 > 0:
        _, prev_row = trades.rows(g0 - 1, g0)
        previous = float(trades.column("price", prev_row)[0])
    keep = np.ones(n_buckets, dtype=bool)
    for i in range(n_buckets):  # carry the last close through empty buckets
        if n[i]:
            previous = c[i]
        elif previous is None:
            keep[i] = False
        else:
            o[i] = h[i] = lo[i] = c[i] = previous
    return Klines(
        out_open[keep],
        o[keep],
        h[keep],
        lo[keep],
        c[keep],
        v[keep],
        qv[keep],
        n[keep],
        tb[keep],
        tq[keep],
        first_id[keep],
        last_id[keep],
    )


def klines_from_bars(
    bars: Tape, tf_ms: int, first_open: int, n_buckets: int, now_ms: int
) -> Klines:
    """Klines rolled up from 1-minute bars; a bar becomes visible once its minute has closed.

    Buckets without any bar are absent: recorded bars carry no trades to fill them with.

    >>> bars = Tape(np.array([0, 60_000, 120_000]), {"open": np.array([1.0, 2.0, 3.0]),
    ...     "high": np.array([2.0, 3.0, 4.0]), "low": np.array([1.0, 1.5, 2.5]),
    ...     "close": np.array([2.0, 3.0, 3.5]), "volume": np.array([1.0, 1.0, 1.0])})
    >>> k = klines_from_bars(bars, 180_000, 0, 1, 500_000)
    >>> k.open.tolist(), k.high.tolist(), k.low.tolist(), k.close.tolist(), k.volume.tolist()
    ([1.0], [4.0], [1.0], [3.5], [3.0])
    """
    end = min(first_open + n_buckets * tf_ms, now_ms + 1 - MS_PER_MINUTE)
    g0, g1 = bars.count_before(first_open), bars.count_before(end)
    ts, rows = bars.rows(g0, g1)
    if len(ts) == 0:
        return Klines.empty()
    col = {name: bars.column(name, rows) for name in ("open", "high", "low", "close", "volume")}
    bucket = (ts - first_open) // tf_ms
    present, starts, ends = _bucketed(bucket)
    k = len(present)
    volume = np.add.reduceat(col["volume"], starts)
    close = col["close"][ends]
    zeros_i = np.zeros(k, dtype=np.int64)
    return Klines(
        first_open + present * tf_ms,
        col["open"][starts],
        np.maximum.reduceat(col["high"], starts),
        np.minimum.reduceat(col["low"], starts),
        close,
        volume,
        volume * close,
        zeros_i,
        np.zeros(k),
        np.zeros(k),
        zeros_i - 1,
        zeros_i - 1,
    )
