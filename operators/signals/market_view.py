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

    def __init__(self, depth: int = 3) -> None:
        if depth < 2:
            raise ValueError(f"depth must be >= 2 (crosses need the previous row), got {depth}")
        self.depth = depth
        self._rows: dict[Timeframe, deque[CandleRow]] = {}

    def push(self, row: CandleRow) -> None:
        self._rows.setdefault(row.timeframe, deque(maxlen=self.depth)).append(row)

    def latest(self, timeframe: Timeframe) -> CandleRow | None:
        rows = self._rows.get(timeframe)
        return rows[-1] if rows else None

    def previous(self, timeframe: Timeframe) -> CandleRow | None:
        rows = self._rows.get(timeframe)
        return rows[-2] if rows and len(rows) >= 2 else None
