"""Trades → closed 1-minute candles in event time, with a watermark and a late-trade output.

:class:`MinuteCandleBuilder` is the pure core behind the ``build_candles`` operator: one per
symbol, fed :class:`~schemas.batches.TradeBatch` es in arrival order, returning the minutes that
closed. Rules, in event time (UTC, epoch-aligned minutes ``[t, t + 60 s)``):

* **watermark** = the largest trade time seen − ``allowed_lateness_ns``; a minute closes once the
  watermark reaches its end, so every minute before ``floor(watermark)`` is closed;
* a trade whose minute is already closed is **late**: it is returned in
  :attr:`MinuteUpdate.late` with the watermark at its arrival, counted in
  :attr:`MinuteCandleBuilder.late_total`, and never merged into a closed candle;
* trades out of order inside an open minute are merged as if sorted: open = earliest time (ties:
  first to arrive), close = latest time (ties: last to arrive), high, low, volume, trade count;
* **empty minutes** between two traded minutes become zero-volume candles with
  open = high = low = close = the previous close and ``trades == 0``, as exchanges publish them
  (``fill_empty=False`` leaves them out); there is no candle before the first trade and none
  after the last one; with a market ``calendar``, minutes while the market is closed are never
  filled (a night or a weekend is not a run of empty minutes);
* :meth:`MinuteCandleBuilder.flush` (end of stream) closes the open minutes.

Accepted trades wait in the state until their minute closes; the minute is then aggregated in
one vectorized pass (see :mod:`operators.candles.aggregate`), which is why the output is the
same however the stream is cut into batches, and why the volume equals pandas'
``resample("1min").sum()`` bit for bit. The state holds at most the trades of the open minutes
(one minute plus the allowed lateness) and pickles as it is.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import numpy as np

from operators.candles.aggregate import (
    OhlcvColumns,
    aggregate_sorted,
    concat_trades,
    copy_trades,
)
from operators.candles.calendars import MarketCalendar
from operators.candles.timeframes import floor_to, format_ns
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import NS_PER_MINUTE, Timeframe, ns_to_datetime
from schemas.records import LateTrade


@dataclass(frozen=True, slots=True)
class LateTrades:
    """Trades that arrived after their minute had closed, with the watermark at each arrival.

    >>> late = LateTrades(TradeBatch.from_columns("X/Y", [5], [1.0], [2.0], [7]), np.array([90]))
    >>> [(t.trade_id, t.watermark.isoformat()) for t in late.to_records()]
    [('7', '1970-01-01T00:00:00+00:00')]
    """

    trades: TradeBatch
    watermark_ns: np.ndarray

    def __len__(self) -> int:
        return len(self.trades)

    @property
    def symbol(self) -> str:
        return self.trades.symbol

    @classmethod
    def empty(cls, symbol: str, source: str = "replay") -> LateTrades:
        return cls(TradeBatch.empty(symbol, source), np.zeros(0, dtype=np.int64))

    def to_records(self) -> list[LateTrade]:
        """The canonical :class:`~schemas.records.LateTrade` records (for sinks and audits)."""
        return [
            LateTrade(
                symbol=trade.symbol,
                ts=trade.ts,
                price=trade.price,
                amount=trade.amount,
                trade_id=trade.trade_id,
                watermark=ns_to_datetime(int(mark)),
            )
            for trade, mark in zip(self.trades.to_trades(), self.watermark_ns, strict=True)
        ]


@dataclass(frozen=True, slots=True)
class MinuteUpdate:
    """What one call of :class:`MinuteCandleBuilder` produced."""

    candles: CandleBatch
    """1-minute candles closed by this call, in time order (possibly empty)."""
    late: LateTrades
    """Trades of this call that arrived behind the watermark."""
    watermark_ns: int | None
    """Watermark after this call (``None`` before the first trade)."""

    @property
    def late_count(self) -> int:
        return len(self.late)


class MinuteCandleBuilder:
    """Builds closed 1-minute candles of one symbol from trade batches (event time).

    >>> m = 60_000_000_000
    >>> builder = MinuteCandleBuilder("X/Y")
    >>> first = builder.update(TradeBatch.from_columns(
    ...     "X/Y", [10, m // 2, 5, 3 * m + 1], [2.0, 3.0, 1.0, 4.0], [1.0, 1.0, 1.0, 1.0]))
    >>> for c in first.candles.to_candles():
    ...     print(c.ts.minute, c.open, c.high, c.low, c.close, c.volume, c.trades)
    0 1.0 3.0 1.0 3.0 3.0 3
    1 3.0 3.0 3.0 3.0 0.0 0
    2 3.0 3.0 3.0 3.0 0.0 0
    >>> late = builder.update(TradeBatch.from_columns("X/Y", [m + 7], [9.0], [1.0]))
    >>> late.late_count, len(late.candles), builder.late_total
    (1, 0, 1)
    >>> [c.close for c in builder.flush().candles.to_candles()]
    [4.0]
    """

    def __init__(
        self,
        symbol: str,
        *,
        allowed_lateness_ns: int = 0,
        fill_empty: bool = True,
        calendar: MarketCalendar | None = None,
    ) -> None:
        if allowed_lateness_ns < 0:
            raise ValueError(f"allowed_lateness_ns must be >= 0, got {allowed_lateness_ns}")
        self.symbol = symbol
        self.allowed_lateness_ns = int(allowed_lateness_ns)
        self.fill_empty = fill_empty
        self.calendar = None if calendar is None or calendar.always_open else calendar
        self.late_total = 0
        self._source = "replay"
        self._max_ts: int | None = None
        self._horizon: int | None = None  # start of the oldest open minute
        self._pending: list[TradeBatch] = []  # accepted trades of open minutes, arrival order
        self._pending_min_ts: int | None = None
        self._last_emitted: int | None = None  # start of the last emitted minute
        self._last_close = float("nan")

    def __deepcopy__(self, memo: dict[int, object]) -> MinuteCandleBuilder:
        """Bytewax snapshots state by deep copy every epoch: copy the pending trades only."""
        clone = copy.copy(self)
        clone._pending = [copy_trades(batch) for batch in self._pending]
        return clone

    @property
    def watermark_ns(self) -> int | None:
        """Largest trade time seen − allowed lateness (``None`` before the first trade)."""
        return None if self._max_ts is None else self._max_ts - self.allowed_lateness_ns

    @property
    def open_since_ns(self) -> int | None:
        """Start of the oldest minute still open: trades before it are late."""
        return self._horizon

    def update(self, trades: TradeBatch) -> MinuteUpdate:
        """Take one batch (arrival order); return the minutes it closed and its late trades."""
        self._check(trades)
        self._source = trades.source
        if len(trades) == 0:
            return self._result(self._no_candles(), _no_late(self.symbol, self._source))
        ts = trades.ts_ns
        if self._in_order(ts):  # a live feed's batch: no trade can be late
            late, accepted = _no_late(self.symbol, self._source), trades
            self._max_ts = int(ts[-1])
        else:
            seen_before = self._max_seen_before_each(ts)
            late, accepted = self._split_late(trades, seen_before)
            self._max_ts = int(max(seen_before[-1], ts[-1]))
        self._add_pending(accepted)
        horizon = (self._max_ts - self.allowed_lateness_ns) // NS_PER_MINUTE * NS_PER_MINUTE
        if self._horizon is not None:
            horizon = max(horizon, self._horizon)
        candles = self._close_before(horizon, fill_end=horizon)
        self._horizon = horizon
        return self._result(candles, late)

    def flush(self) -> MinuteUpdate:
        """End of stream: close every open minute (no empty candles after the last trade)."""
        none_late = _no_late(self.symbol, self._source)
        if self._pending_min_ts is None:
            return self._result(self._no_candles(), none_late)
        latest = max(int(batch.ts_ns.max()) for batch in self._pending)
        last_minute = latest // NS_PER_MINUTE * NS_PER_MINUTE
        end = last_minute + NS_PER_MINUTE
        candles = self._close_before(end, fill_end=end)
        self._horizon = end if self._horizon is None else max(self._horizon, end)
        return self._result(candles, none_late)

    # -- internals -------------------------------------------------------------------------

    def _check(self, trades: TradeBatch) -> None:
        if trades.symbol != self.symbol:
            raise ValueError(
                f"trade batch for symbol {trades.symbol!r} sent to the {self.symbol!r} builder"
            )
        for name in ("price", "amount"):
            column = getattr(trades, name)
            if len(column) and not (  # two reductions; a NaN propagates and fails
                np.minimum.reduce(column) > 0 and np.maximum.reduce(column) < np.inf
            ):
                i = int(np.argmax(~((column > 0) & (column < np.inf))))
                raise ValueError(
                    f"{name} must be finite and > 0; trade {i} at {format_ns(trades.ts_ns[i])} "
                    f"has {name}={float(column[i])!r}"
                )

    def _in_order(self, ts: np.ndarray) -> bool:
        """Whether the batch's trades come in time order, none before the latest trade seen
        nor before the open minutes: then each trade is at or after every trade before it,
        and so at or after its watermark and the open minutes, and none is late."""
        first = int(ts[0])
        if self._max_ts is not None and first < self._max_ts:
            return False
        if self._horizon is not None and first < self._horizon:
            return False
        return len(ts) == 1 or bool((ts[1:] >= ts[:-1]).all())

    def _split_late(
        self, trades: TradeBatch, seen_before: np.ndarray
    ) -> tuple[LateTrades, TradeBatch]:
        """The batch's late trades (with the watermark at each arrival) and the accepted rest."""
        ts = trades.ts_ns
        watermark_before = seen_before - self.allowed_lateness_ns
        open_since = floor_to(watermark_before, NS_PER_MINUTE)
        if self._horizon is not None:
            np.maximum(open_since, self._horizon, out=open_since)
        late_mask = ts < open_since
        if not late_mask.any():
            return _no_late(self.symbol, self._source), trades
        late = LateTrades(trades.take(late_mask), watermark_before[late_mask])
        self.late_total += len(late)
        return late, trades.take(~late_mask)

    def _max_seen_before_each(self, ts: np.ndarray) -> np.ndarray:
        """Largest trade time seen before each trade of the batch arrived."""
        prior = int(ts[0]) if self._max_ts is None else self._max_ts
        seen = np.empty(len(ts), dtype=np.int64)
        seen[0] = prior
        if len(ts) > 1:
            np.maximum(np.maximum.accumulate(ts[:-1]), prior, out=seen[1:])
        return seen

    def _add_pending(self, accepted: TradeBatch) -> None:
        if len(accepted) == 0:
            return
        self._pending.append(accepted)
        low = int(accepted.ts_ns.min())
        if self._pending_min_ts is None or low < self._pending_min_ts:
            self._pending_min_ts = low

    def _close_before(self, horizon: int, *, fill_end: int) -> CandleBatch:
        """Emit every minute before ``horizon``: traded ones, plus gaps up to ``fill_end``."""
        if self._nothing_to_close(horizon, fill_end):  # most trades of a live feed
            return self._no_candles()
        closed = self._take_pending_before(horizon)
        columns = _aggregate_minutes(closed)
        if self.fill_empty:
            columns = self._fill_gaps(columns, fill_end)
        if len(columns):
            self._last_emitted = int(columns.ts_ns[-1])
            self._last_close = float(columns.close[-1])
        return columns.to_batch(self.symbol, Timeframe.M1, self._source)

    def _nothing_to_close(self, horizon: int, fill_end: int) -> bool:
        """No pending trade is before ``horizon`` and no untraded minute is to be filled
        before ``fill_end`` (what :meth:`_fill_gaps` would find)."""
        if self._pending_min_ts is not None and self._pending_min_ts < horizon:
            return False
        last = self._last_emitted
        return not self.fill_empty or last is None or fill_end <= last + NS_PER_MINUTE

    def _take_pending_before(self, horizon: int) -> TradeBatch:
        if self._pending_min_ts is None or self._pending_min_ts >= horizon:
            return TradeBatch.empty(self.symbol, self._source)
        closing: list[TradeBatch] = []  # batch by batch, in arrival order: a live feed's
        rest: list[TradeBatch] = []  # batches fall wholly on one side of the horizon
        for batch in self._pending:
            ts = batch.ts_ns
            if ts.max() < horizon:
                closing.append(batch)
            elif ts.min() >= horizon:
                rest.append(batch)
            else:
                before = ts < horizon
                closing.append(batch.take(before))
                rest.append(batch.take(~before))
        self._pending = rest
        self._pending_min_ts = min(int(batch.ts_ns.min()) for batch in rest) if rest else None
        return concat_trades(self.symbol, closing, self._source)

    def _fill_gaps(self, columns: OhlcvColumns, fill_end: int) -> OhlcvColumns:
        """Zero-volume candles at the previous close for untraded minutes in the range."""
        if self._last_emitted is not None:
            start = self._last_emitted + NS_PER_MINUTE
        elif len(columns):
            start = int(columns.ts_ns[0])
        else:
            return columns  # no trade yet: no candle before the first trade
        if fill_end <= start:
            return columns
        grid = np.arange(start, fill_end, NS_PER_MINUTE, dtype=np.int64)
        if len(grid) == len(columns):
            return columns
        row = np.full(len(grid), -1, dtype=np.int64)  # row of columns for each minute, -1 = none
        row[(columns.ts_ns - start) // NS_PER_MINUTE] = np.arange(len(columns))
        if self.calendar is not None:  # closed minutes are not empty minutes: no candle
            keep = (row >= 0) | self.calendar.is_open(grid)
            grid, row = grid[keep], row[keep]
        traded = row >= 0
        # Index -1 picks the appended value: the close before this range for leading gaps.
        carried = np.append(columns.close, self._last_close)[np.maximum.accumulate(row)]

        def merged(values: np.ndarray, empty: np.ndarray | float) -> np.ndarray:
            return np.where(traded, np.append(values, 0)[row], empty)

        return OhlcvColumns(
            ts_ns=grid,
            open=merged(columns.open, carried),
            high=merged(columns.high, carried),
            low=merged(columns.low, carried),
            close=merged(columns.close, carried),
            volume=merged(columns.volume, 0.0),
            trades=merged(columns.trades, 0).astype(np.int64),
        )

    def _no_candles(self) -> CandleBatch:
        return CandleBatch.empty(self.symbol, Timeframe.M1, self._source)

    def _result(self, candles: CandleBatch, late: LateTrades) -> MinuteUpdate:
        return MinuteUpdate(candles, late, self.watermark_ns)


@functools.lru_cache(maxsize=4096)
def _no_late(symbol: str, source: str) -> LateTrades:
    """The (shared, empty) late trades of a batch that had none."""
    return LateTrades.empty(symbol, source)


def _aggregate_minutes(trades: TradeBatch) -> OhlcvColumns:
    """One candle per traded minute; trades sorted by time, ties kept in arrival order."""
    ts, price, amount = trades.ts_ns, trades.price, trades.amount
    if len(ts) > 1 and np.any(ts[1:] < ts[:-1]):
        order = np.argsort(ts, kind="stable")
        ts, price, amount = ts[order], price[order], amount[order]
    return aggregate_sorted(floor_to(ts, NS_PER_MINUTE), price, price, price, price, amount)
