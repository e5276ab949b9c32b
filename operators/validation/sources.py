"""Latest price of each source of one symbol: the second opinion on a suspect price.

A venue's trade that the robust z-score finds far from the recent prices is kept unless another
source of the same symbol, seen no further apart in event time than ``max_skew_ns``, quotes a
price more than ``threshold_bps`` away from it (the same measure as the dual-source check of
:mod:`operators.divergence`). One source alone never condemns its own trades.
"""

from __future__ import annotations

import numpy as np

from operators.divergence import divergence_bps


class SourcePrices:
    """The last accepted ``(ts_ns, price)`` per source; judges suspect prices of another source.

    >>> book = SourcePrices(threshold_bps=50, max_skew_ns=5_000_000_000)
    >>> book.remember("binance", np.array([1_000_000_000]), np.array([100.0]))
    >>> book.disputes("kraken", np.array([2_000_000_000, 3_000_000_000]),
    ...               np.array([100.2, 130.0])).tolist()
    [False, True]
    >>> book.disputes("binance", np.array([2_000_000_000]), np.array([130.0])).tolist()
    [False]
    """

    def __init__(self, threshold_bps: float, max_skew_ns: int) -> None:
        self.threshold_bps = float(threshold_bps)
        self.max_skew_ns = int(max_skew_ns)
        self.latest: dict[str, tuple[int, float]] = {}

    def remember(self, source: str, ts_ns: np.ndarray, price: np.ndarray) -> None:
        """Keep the latest accepted trade of ``source`` (rows in arrival order)."""
        if len(ts_ns):
            last = int(np.argmax(ts_ns))
            self.latest[source] = (int(ts_ns[last]), float(price[last]))

    def disputes(self, source: str, ts_ns: np.ndarray, price: np.ndarray) -> np.ndarray:
        """Rows whose price another source, close enough in time, contradicts."""
        disputed = np.zeros(len(ts_ns), dtype=bool)
        for other, (other_ts, other_price) in self.latest.items():
            if other == source:
                continue
            near = np.abs(ts_ns - other_ts) <= self.max_skew_ns
            for i in np.flatnonzero(near & ~disputed).tolist():
                disputed[i] = divergence_bps(float(price[i]), other_price) > self.threshold_bps
        return disputed
