"""Per-stage latency: the wall-clock time between a record leaving the flow and the record it
was derived from leaving it (trade → candle, candle → signal, signal → fused, fused → order,
order → fill).

Records are linked by their natural keys: a signal to the candle of its asset, timeframe and
close time; a fused decision to the first signal of its asset and time; an order to its
decision through its intent; a fill to its order. Trade → candle is the wall clock minus the
candle's close (the latest trade it could hold). Each map keeps at most ``capacity`` entries
(oldest dropped first), so memory is bounded whatever the run's length.

>>> s = StageLatencies()
>>> s.trade_to_candle(close_s=100.0, now=100.5)
0.5
>>> s.candle("BTC", "1m", 100_000_000_000, now=100.5)
>>> s.signal("BTC", "1m", 100_000_000_000, now=100.75)
0.25
>>> s.signal("BTC", "5m", 100_000_000_000, now=100.8) is None   # no such candle seen
True
>>> s.fused("f1", "BTC", 100_000_000_000, now=101.0)
0.25
>>> s.intent("i1", "f1")
>>> s.order("o1", "i1", now=101.5)
0.5
>>> s.fill("o1", now=102.0), s.fill("o1", now=103.0)   # a second fill of the order counts too
(0.5, 1.5)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

STAGES = (
    "trade_to_candle",
    "candle_to_signal",
    "signal_to_fused",
    "fused_to_order",
    "order_to_fill",
)
"""The ``stage`` label values, in flow order."""

K = TypeVar("K")
V = TypeVar("V")


class _Bounded(Generic[K, V]):
    """A dict that forgets its oldest entries beyond ``capacity``."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def put(self, key: K, value: V, *, keep_first: bool = False) -> None:
        if keep_first and key in self._items:
            return
        self._items[key] = value
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def get(self, key: K) -> V | None:
        return self._items.get(key)


class StageLatencies:
    """Remembers when each record left the flow and returns the latency of the stage it ends."""

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._candles: _Bounded[tuple[str, str, int], float] = _Bounded(capacity)
        self._signals: _Bounded[tuple[str, int], float] = _Bounded(capacity)
        self._fused: _Bounded[str, float] = _Bounded(capacity)
        self._intents: _Bounded[str, float] = _Bounded(capacity)
        self._orders: _Bounded[str, float] = _Bounded(capacity)

    @staticmethod
    def trade_to_candle(close_s: float, now: float) -> float:
        return max(0.0, now - close_s)

    def candle(self, symbol: str, timeframe: str, close_ns: int, now: float) -> None:
        self._candles.put((symbol, timeframe, close_ns), now)

    def signal(self, asset: str, timeframe: str, ts_ns: int, now: float) -> float | None:
        self._signals.put((asset, ts_ns), now, keep_first=True)
        return _since(self._candles.get((asset, timeframe, ts_ns)), now)

    def fused(self, fused_id: str, asset: str, ts_ns: int, now: float) -> float | None:
        self._fused.put(fused_id, now)
        return _since(self._signals.get((asset, ts_ns)), now)

    def intent(self, intent_id: str, fused_id: str) -> None:
        decided = self._fused.get(fused_id)
        if decided is not None:
            self._intents.put(intent_id, decided)

    def order(self, order_id: str, intent_id: str, now: float) -> float | None:
        self._orders.put(order_id, now, keep_first=True)
        return _since(self._intents.get(intent_id), now)

    def fill(self, order_id: str, now: float) -> float | None:
        return _since(self._orders.get(order_id), now)


def _since(then: float | None, now: float) -> float | None:
    return None if then is None else max(0.0, now - then)
