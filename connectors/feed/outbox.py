"""Hand-over point between a feed's background loop and the Bytewax partition.

The feed thread appends released rows; the partition's ``next_batch`` drains everything at once:
one :class:`~schemas.batches.TradeBatch` per symbol, one :class:`~schemas.batches.CandleBatch` per
symbol and timeframe, the latest :class:`~schemas.market.BookTop` per symbol (quotes are
conflated: only the newest top of book matters), and every dead letter and health record in
arrival order. The drain also advances the emitted :class:`~connectors.feed.cursor.FeedCursor`
under the same lock, so a snapshot never runs ahead of what the flow has received.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

from connectors.feed.cursor import CandleRow, FeedCursor, TradeRow
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import Timeframe
from schemas.market import BookTop

NS_PER_MS = 1_000_000


def trade_batch(symbol: str, rows: Sequence[TradeRow], source: str) -> TradeBatch:
    """Columns of ``rows`` as a batch (times converted to nanoseconds).

    >>> b = trade_batch("X/Y", [(5, 1_000, 2.0, 0.5, 5, -1)], "binance")
    >>> b.ts_ns.tolist(), b.trade_id.tolist(), b.side.tolist()
    ([1000000000], [5], [-1])
    """
    _, ts, price, amount, trade_id, side = zip(*rows, strict=True)
    return TradeBatch.from_columns(
        symbol,
        np.asarray(ts, dtype=np.int64) * NS_PER_MS,
        price,
        amount,
        trade_id,
        side,
        source=source,
    )


def candle_batch(
    symbol: str,
    timeframe: Timeframe,
    rows: Sequence[CandleRow],
    source: str,
    spreads: Sequence[float] | None = None,
) -> CandleBatch:
    """Columns of closed-candle ``rows`` as a batch (with their mean spreads: quote candles)."""
    open_ms, o, h, low, c, v, n = zip(*rows, strict=True)
    batch = CandleBatch.from_columns(
        symbol,
        timeframe,
        np.asarray(open_ms, dtype=np.int64) * NS_PER_MS,
        o,
        h,
        low,
        c,
        v,
        n,
        source=source,
    )
    if spreads is not None:
        batch.spread = np.asarray(spreads, dtype=np.float64)
    return batch


class Outbox:
    """Thread-safe buffer of released market data.

    >>> box = Outbox("binance")
    >>> box.put_trades("X/Y", [(1, 1_000, 2.0, 0.5, 1, 1)])
    >>> box.put_trades("X/Y", [(2, 1_001, 2.0, 0.5, 2, -1)])
    >>> [type(item).__name__ for item in box.drain()], box.cursor.last_trade_key("X/Y")
    (['TradeBatch'], 2)
    >>> box.drain()
    []
    """

    def __init__(self, source: str, cursor: FeedCursor | None = None) -> None:
        self.source = source
        self.cursor = cursor or FeedCursor()
        self._lock = threading.Lock()
        self._trades: dict[str, list[TradeRow]] = {}
        self._candles: dict[tuple[str, Timeframe], list[CandleRow]] = {}
        self._spreads: dict[tuple[str, Timeframe], list[float]] = {}
        self._quotes: dict[str, BookTop] = {}
        self._records: list[object] = []
        self.quotes_conflated = 0
        self.on_candles: Callable[[str, Timeframe, Sequence[CandleRow]], None] | None = None
        """Called with every released run of candles (the open-session gap watch)."""

    def put_trades(self, symbol: str, rows: Sequence[TradeRow]) -> None:
        if rows:
            with self._lock:
                self._trades.setdefault(symbol, []).extend(rows)

    def put_candles(
        self,
        symbol: str,
        timeframe: Timeframe,
        rows: Sequence[CandleRow],
        spreads: Sequence[float] | None = None,
    ) -> None:
        """Closed candles in order; ``spreads`` (aligned) for candles built from quotes."""
        if rows:
            if self.on_candles is not None:
                self.on_candles(symbol, timeframe, rows)
            with self._lock:
                self._candles.setdefault((symbol, timeframe), []).extend(rows)
                if spreads is not None:
                    self._spreads.setdefault((symbol, timeframe), []).extend(spreads)

    def put_quote(self, quote: BookTop) -> None:
        with self._lock:
            if quote.symbol in self._quotes:
                self.quotes_conflated += 1
            self._quotes[quote.symbol] = quote

    def put(self, record: object) -> None:
        """A dead letter, a health record or any other item, passed through as is."""
        with self._lock:
            self._records.append(record)

    def drain(self) -> list[object]:
        """Everything buffered, as flow items; the emitted cursor advances accordingly."""
        with self._lock:
            trades, self._trades = self._trades, {}
            candles, self._candles = self._candles, {}
            spreads, self._spreads = self._spreads, {}
            quotes, self._quotes = self._quotes, {}
            records, self._records = self._records, []
            items: list[object] = list(records)
            for symbol, rows in trades.items():
                items.append(trade_batch(symbol, rows, self.source))
                self.cursor.note_trades(symbol, rows)
            for (symbol, timeframe), rows in candles.items():
                spread = spreads.get((symbol, timeframe))
                items.append(candle_batch(symbol, timeframe, rows, self.source, spread))
                self.cursor.note_candles(symbol, timeframe.value, rows)
            items.extend(quotes.values())
            return items

    def snapshot(self) -> dict:
        with self._lock:
            return self.cursor.to_state()
