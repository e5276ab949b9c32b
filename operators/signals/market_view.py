"""Closed candles as rows, and the as-of view of every timeframe a generator reads.

A candle's values (its OHLCV and indicators) become known at its *close* time
``open_ns + timeframe.ns``: rows are stamped with both, and everything downstream — signal
timestamps, as-of look-ups across timeframes — uses the close time. The engine hands rows to
generators in close-time order, so :class:`MarketView` only ever holds candles that have closed.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from schemas.batches import FeatureBatch
from schemas.common import Timeframe


@dataclass(frozen=True, slots=True)
class CandleRow:
    """One closed candle of one symbol and timeframe with its indicator values.

    >>> row = CandleRow("X/Y", Timeframe.M15, 0, 1.0, 2.0, 0.5, 1.5, 10.0, {"rsi_14": 55.0})
    >>> row.close_ns, row.value("rsi_14"), row.value("close")
    (900000000000, 55.0, 1.5)
    """

    symbol: str
    timeframe: Timeframe
    open_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    features: dict[str, float] = field(default_factory=dict)

    @property
    def close_ns(self) -> int:
        """When the candle closed: its values are known from this instant on."""
        return self.open_ns + self.timeframe.ns

    def value(self, name: str) -> float:
        """A candle field or indicator by name; NaN when absent or in warm-up."""
        if name in _CANDLE_ATTRS:
            return float(getattr(self, name))
        return float(self.features.get(name, math.nan))


_CANDLE_ATTRS = frozenset({"open", "high", "low", "close", "volume"})


def rows_of(batch: FeatureBatch) -> list[CandleRow]:
    """Split a columnar :class:`FeatureBatch` into rows (a few per timeframe per batch).

    >>> from schemas.batches import CandleBatch
    >>> import numpy as np
    >>> candles = CandleBatch.from_columns("X/Y", "1h", [0, 3_600_000_000_000], [1, 2], [2, 3],
    ...                                    [1, 2], [2, 3], [5, 6])
    >>> rows = rows_of(FeatureBatch(candles, {"rsi_14": np.array([np.nan, 61.0])}))
    >>> [(r.close_ns // 3_600_000_000_000, r.value("rsi_14")) for r in rows]
    [(1, nan), (2, 61.0)]
    """
    candles = batch.candles
    names = list(batch.columns)
    columns = [batch.columns[n].tolist() for n in names]
    ts, op, hi, lo, cl, vo = (
        candles.ts_ns.tolist(),
        candles.open.tolist(),
        candles.high.tolist(),
        candles.low.tolist(),
        candles.close.tolist(),
        candles.volume.tolist(),
    )
    return [
        CandleRow(
            candles.symbol,
            candles.timeframe,
            ts[i],
            op[i],
            hi[i],
            lo[i],
            cl[i],
            vo[i],
            {name: col[i] for name, col in zip(names, columns, strict=True)},
        )
        for i in range(len(ts))
    ]


class PriceRing:
    """The last ``capacity`` highs, lows and closes of one timeframe, as float64 arrays.

    One ring per symbol and timeframe serves every statistical generator: each reads the last
    ``n`` values it needs instead of keeping its own window of rows (24 bytes per candle).

    >>> ring = PriceRing(3)
    >>> for price in [1.0, 2.0, 3.0, 4.0]:
    ...     ring.push(price + 0.5, price - 0.5, price)
    >>> ring.count, ring.last("close", 3).tolist(), ring.last("high", 2).tolist()
    (4, [2.0, 3.0, 4.0], [3.5, 4.5])
    >>> ring.last("close", 3) is not ring.last("close", 3)  # a fresh ordered copy each time
    True
    """

    __slots__ = ("capacity", "close", "count", "high", "low")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.high = np.zeros(capacity)
        self.low = np.zeros(capacity)
        self.close = np.zeros(capacity)
        self.count = 0

    def push(self, high: float, low: float, close: float) -> None:
        i = self.count % self.capacity
        self.high[i], self.low[i], self.close[i] = high, low, close
        self.count += 1

    def last(self, column: str, n: int) -> np.ndarray:
        """The newest ``n`` values of ``column`` (``high``, ``low``, ``close``), oldest first."""
        if not 0 < n <= min(self.count, self.capacity):
            raise ValueError(f"{n} values asked, {min(self.count, self.capacity)} held")
        values: np.ndarray = getattr(self, column)
        end = self.count % self.capacity
        start = end - n
        if start >= 0:
            return values[start:end].copy()
        return np.concatenate((values[start:], values[:end]))

    def __getstate__(self) -> tuple[int, int, bytes]:
        """Capacity, count and the three columns as one block of raw float64 bytes (three
        arrays would each pickle with ~120 bytes of numpy reconstruction around them)."""
        return (
            self.capacity,
            self.count,
            np.concatenate((self.high, self.low, self.close)).tobytes(),
        )

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        if len(state) == 5:  # the earlier form: capacity, count and three arrays
            self.capacity, self.count, self.high, self.low, self.close = state
            return
        self.capacity, self.count, block = state
        columns = np.frombuffer(block, dtype=np.float64).reshape(3, self.capacity)
        self.high, self.low, self.close = (column.copy() for column in columns)


def _row_state(row: CandleRow, names: dict[tuple[str, ...], tuple[str, ...]]) -> tuple[Any, ...]:
    """A held row as a tuple: its feature names (one object per distinct tuple of names, so a
    snapshot spells them once) and values apart, no field names.

    >>> row = CandleRow("X/Y", Timeframe.H1, 0, 1.0, 2.0, 0.5, 1.5, 10.0, {"rsi_14": 55.0})
    >>> _row_of(Timeframe.H1, _row_state(row, {})) == row
    True
    """
    keys = tuple(row.features)
    keys = names.setdefault(keys, keys)
    return (
        row.symbol,
        row.open_ns,
        row.open,
        row.high,
        row.low,
        row.close,
        row.volume,
        keys,
        tuple(row.features.values()),
    )


def _row_of(timeframe: Timeframe, saved: tuple[Any, ...]) -> CandleRow:
    symbol, open_ns, open_, high, low, close, volume, keys, values = saved
    features = dict(zip(keys, values, strict=True))
    return CandleRow(symbol, timeframe, open_ns, open_, high, low, close, volume, features)


class MarketView:
    """The last few closed rows of each timeframe of one symbol, as of the engine's clock.

    >>> view = MarketView(depth=2)
    >>> for i, close in enumerate([1.0, 2.0, 3.0]):
    ...     view.push(CandleRow("X/Y", Timeframe.H1, i * Timeframe.H1.ns, close, close, close,
    ...                         close, 1.0))
    >>> view.latest(Timeframe.H1).close, view.previous(Timeframe.H1).close
    (3.0, 2.0)
    >>> view.latest(Timeframe.H4) is None
    True
    """

    def __init__(self, depth: int = 3, history: int = 256) -> None:
        if depth < 2:
            raise ValueError(f"depth must be >= 2 (crosses need the previous row), got {depth}")
        self.depth = depth
        self.history = history
        """Candles of prices each timeframe's :class:`PriceRing` holds."""
        self._rows: dict[Timeframe, deque[CandleRow]] = {}
        self._rings: dict[Timeframe, PriceRing] = {}

    def __getstate__(self) -> dict[str, Any]:
        """The held rows as plain tuples (:func:`_row_state`), the rings as they pickle."""
        names: dict[tuple[str, ...], tuple[str, ...]] = {}
        rows = {tf: [_row_state(row, names) for row in held] for tf, held in self._rows.items()}
        return {"depth": self.depth, "history": self.history, "rows": rows, "rings": self._rings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "_rows" in state:  # the earlier form: the attributes as they were
            self.__dict__.update(state)
            return
        self.depth, self.history, self._rings = state["depth"], state["history"], state["rings"]
        self._rows = {
            tf: deque((_row_of(tf, saved) for saved in held), maxlen=self.depth)
            for tf, held in state["rows"].items()
        }

    def push(self, row: CandleRow) -> None:
        self._rows.setdefault(row.timeframe, deque(maxlen=self.depth)).append(row)
        ring = self._rings.get(row.timeframe)
        if ring is None:
            ring = self._rings[row.timeframe] = PriceRing(self.history)
        ring.push(row.high, row.low, row.close)

    def prices(self, timeframe: Timeframe, n: int) -> PriceRing | None:
        """The timeframe's price ring once it holds ``n`` candles (None before)."""
        if n > self.history:
            raise ValueError(f"a window of {n} candles needs MarketView(history >= {n})")
        ring = self._rings.get(timeframe)
        return ring if ring is not None and ring.count >= n else None

    def held(self, timeframe: Timeframe) -> list[CandleRow]:
        """The timeframe's last ``depth`` rows, oldest first."""
        rows = self._rows.get(timeframe)
        return list(rows) if rows else []

    def timeframes(self) -> list[Timeframe]:
        """Timeframes the view has seen."""
        return list(self._rows)

    def ring(self, timeframe: Timeframe) -> PriceRing | None:
        """The timeframe's price ring, however few candles it holds (None before the first)."""
        return self._rings.get(timeframe)

    def latest(self, timeframe: Timeframe) -> CandleRow | None:
        rows = self._rows.get(timeframe)
        return rows[-1] if rows else None

    def previous(self, timeframe: Timeframe) -> CandleRow | None:
        rows = self._rows.get(timeframe)
        return rows[-2] if rows and len(rows) >= 2 else None
