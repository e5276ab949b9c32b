"""Columnar batches carried through the hot path of the flow.

Bytewax costs microseconds per item and per stateful step, so the flow never moves one trade at a
time: a source emits ``TradeBatch``/``CandleBatch`` objects (one symbol each, numpy columns, event
time order), and every keyed step works on whole batches. Records become pydantic models only at
the edges (store, API, dead letters).

Columns: ``ts_ns`` int64 nanoseconds since the epoch (UTC); prices and sizes float64.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from schemas.common import Timeframe, ns_to_datetime
from schemas.market import Candle, Trade


def _i64(values: object) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.int64)


def _f64(values: object) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64)


def _none(dtype: type[np.generic]) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


@dataclass(slots=True)
class TradeBatch:
    """Trades of one symbol, in the order the feed delivered them.

    ``trade_id`` holds venue ids as int64 when numeric (-1 = unknown); ``side`` is +1 buy,
    -1 sell, 0 unknown.

    >>> b = TradeBatch.from_columns("X/Y", [1, 2], [10.0, 11.0], [1.0, 2.0])
    >>> len(b), b.price.tolist()
    (2, [10.0, 11.0])
    """

    symbol: str
    ts_ns: np.ndarray
    price: np.ndarray
    amount: np.ndarray
    trade_id: np.ndarray
    side: np.ndarray
    source: str = "replay"

    @classmethod
    def from_columns(
        cls,
        symbol: str,
        ts_ns: object,
        price: object,
        amount: object,
        trade_id: object | None = None,
        side: object | None = None,
        source: str = "replay",
    ) -> TradeBatch:
        ts = _i64(ts_ns)
        n = len(ts)
        ids = _i64(trade_id) if trade_id is not None else np.full(n, -1, dtype=np.int64)
        sides = (
            np.ascontiguousarray(side, dtype=np.int8)
            if side is not None
            else np.zeros(n, dtype=np.int8)
        )
        return cls(symbol, ts, _f64(price), _f64(amount), ids, sides, source)

    @classmethod
    def empty(cls, symbol: str, source: str = "replay") -> TradeBatch:
        ints, floats = np.int64, np.float64
        return cls(
            symbol, _none(ints), _none(floats), _none(floats), _none(ints), _none(np.int8), source
        )

    def __len__(self) -> int:
        return len(self.ts_ns)

    def take(self, index: np.ndarray) -> TradeBatch:
        """Rows selected by a boolean mask or an index array."""
        return TradeBatch(
            self.symbol,
            self.ts_ns[index],
            self.price[index],
            self.amount[index],
            self.trade_id[index],
            self.side[index],
            self.source,
        )

    def row(self, i: int) -> dict[str, object]:
        """One row as plain Python values (for dead letters and debugging)."""
        return {
            "symbol": self.symbol,
            "ts_ns": int(self.ts_ns[i]),
            "price": float(self.price[i]),
            "amount": float(self.amount[i]),
            "trade_id": int(self.trade_id[i]),
            "side": int(self.side[i]),
        }

    def to_trades(self) -> Iterator[Trade]:
        for i in range(len(self)):
            tid = int(self.trade_id[i])
            side = {1: "buy", -1: "sell"}.get(int(self.side[i]))
            yield Trade(
                symbol=self.symbol,
                ts=ns_to_datetime(int(self.ts_ns[i])),
                price=float(self.price[i]),
                amount=float(self.amount[i]),
                trade_id=str(tid) if tid >= 0 else None,
                side=side,
                source=self.source,
            )


@dataclass(slots=True)
class CandleBatch:
    """Candles of one symbol and one timeframe, in open-time order.

    >>> b = CandleBatch.from_columns("X/Y", Timeframe.M1, [0, 60_000_000_000], [1, 2], [2, 3],
    ...                              [1, 2], [2, 3], [5, 6])
    >>> [c.close for c in b.to_candles()]
    [2.0, 3.0]
    """

    symbol: str
    timeframe: Timeframe
    ts_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    trades: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    source: str = "replay"
    spread: np.ndarray | None = None
    """Candles built from quotes: the mean ask − bid of each candle's quotes (NaN where none);
    None for candles of trades."""

    @classmethod
    def from_columns(
        cls,
        symbol: str,
        timeframe: Timeframe,
        ts_ns: object,
        open_: object,
        high: object,
        low: object,
        close: object,
        volume: object,
        trades: object | None = None,
        source: str = "replay",
    ) -> CandleBatch:
        ts = _i64(ts_ns)
        counts = _i64(trades) if trades is not None else np.zeros(len(ts), dtype=np.int64)
        return cls(
            symbol,
            Timeframe(timeframe),
            ts,
            _f64(open_),
            _f64(high),
            _f64(low),
            _f64(close),
            _f64(volume),
            counts,
            source,
        )

    @classmethod
    def empty(cls, symbol: str, timeframe: Timeframe, source: str = "replay") -> CandleBatch:
        prices = (_none(np.float64) for _ in range(5))
        return cls(symbol, Timeframe(timeframe), _none(np.int64), *prices, _none(np.int64), source)

    def __len__(self) -> int:
        return len(self.ts_ns)

    def take(self, index: np.ndarray) -> CandleBatch:
        return CandleBatch(
            self.symbol,
            self.timeframe,
            self.ts_ns[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
            self.trades[index],
            self.source,
            None if self.spread is None else self.spread[index],
        )

    def row(self, i: int) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe.value,
            "ts_ns": int(self.ts_ns[i]),
            "open": float(self.open[i]),
            "high": float(self.high[i]),
            "low": float(self.low[i]),
            "close": float(self.close[i]),
            "volume": float(self.volume[i]),
            "trades": int(self.trades[i]),
        }

    def to_candles(self) -> Iterator[Candle]:
        for i in range(len(self)):
            yield Candle(
                symbol=self.symbol,
                timeframe=self.timeframe,
                ts=ns_to_datetime(int(self.ts_ns[i])),
                open=float(self.open[i]),
                high=float(self.high[i]),
                low=float(self.low[i]),
                close=float(self.close[i]),
                volume=float(self.volume[i]),
                trades=int(self.trades[i]),
            )


class FeatureTable(Mapping[str, np.ndarray]):
    """Feature columns held as one 2-D table (a row per feature), read as a mapping.

    An indicator bank computes all its features of a batch as one float64 table; a column is a
    view of its row made when read, so a batch in flight holds one array, not a view object
    per feature (with 10,000 symbols, millions of them). ``rows`` maps each name to its row
    and is shared by every batch of the same bank.

    >>> table = FeatureTable({"sma_2": 0, "rsi_14": 1}, np.array([[1.0, 2.0], [50.0, 60.0]]))
    >>> list(table), table["rsi_14"].tolist(), len(table), "sma_2" in table
    (['sma_2', 'rsi_14'], [50.0, 60.0], 2, True)
    """

    __slots__ = ("rows", "table")

    def __init__(self, rows: Mapping[str, int], table: np.ndarray) -> None:
        self.rows, self.table = rows, table

    def __getitem__(self, name: str) -> np.ndarray:
        return self.table[self.rows[name]]

    def __contains__(self, name: object) -> bool:
        return name in self.rows

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return (
            f"FeatureTable({list(self.rows)}, {len(self.table[0]) if len(self.table) else 0} rows)"
        )


@dataclass(slots=True)
class FeatureBatch:
    """Closed candles of one symbol and timeframe with their indicator columns.

    ``columns`` maps an indicator name (``rsi_14``, ``macd_hist`` …) to a float64 array aligned
    with ``candles``; NaN during warm-up (a dict, or an indicator bank's :class:`FeatureTable`).
    """

    candles: CandleBatch
    columns: Mapping[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.candles)

    @property
    def symbol(self) -> str:
        return self.candles.symbol

    @property
    def timeframe(self) -> Timeframe:
        return self.candles.timeframe
