"""Where a feed stands: the resume state of live sources, and de-duplication by time.

:class:`FeedCursor` records, per symbol, the last trade and the last closed candle per timeframe
that the source has *emitted* into the flow. It is the source's snapshot: a restarted flow hands
it back and the source fetches exactly what came after it.

:class:`TimeCursor` de-duplicates trade polls of venues whose trade ids are not consecutive
integers: keep a trade when it is newer than the last one seen, or equally old but unseen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

TradeRow = tuple[int, int, float, float, int, int]
"""``(key, ts_ms, price, amount, trade_id, side)``: ``key`` orders and de-duplicates (the venue
id when numeric, else a stable hash); ``trade_id`` is the numeric venue id or -1; ``side`` is +1
buy, -1 sell, 0 unknown (aggressor)."""

CandleRow = tuple[int, float, float, float, float, float, int]
"""``(open_ms, open, high, low, close, volume, trades)`` of a closed candle."""


@dataclass(slots=True)
class TradeMark:
    """The last trade emitted for a symbol, and the keys sharing its timestamp."""

    last_key: int
    last_ts_ms: int
    keys_at_last_ts: frozenset[int] = frozenset()


@dataclass(slots=True)
class FeedCursor:
    """Emitted positions per symbol; ``to_state``/``from_state`` give the snapshot.

    >>> cursor = FeedCursor()
    >>> cursor.note_trades("BTC/USDT", [(7, 1000, 1.0, 1.0, 7, 1), (8, 1000, 1.0, 1.0, 8, 1)])
    >>> cursor.note_candles("BTC/USDT", "1m", [(60_000, 1.0, 1.0, 1.0, 1.0, 0.0, 0)])
    >>> state = cursor.to_state(); state
    {'trades': {'BTC/USDT': (8, 1000, (7, 8))}, 'candles': {'BTC/USDT': {'1m': 60000}}}
    >>> FeedCursor.from_state(state).trades["BTC/USDT"].last_key
    8
    """

    trades: dict[str, TradeMark] = field(default_factory=dict)
    candles: dict[str, dict[str, int]] = field(default_factory=dict)

    def note_trades(self, symbol: str, rows: Sequence[TradeRow]) -> None:
        """Record trades just emitted (in release order)."""
        if not rows:
            return
        last = rows[-1]
        ts = last[1]
        mark = self.trades.get(symbol)
        same_ts = {r[0] for r in rows if r[1] == ts}
        if mark is not None and mark.last_ts_ms == ts:
            same_ts |= mark.keys_at_last_ts
        self.trades[symbol] = TradeMark(last[0], ts, frozenset(same_ts))

    def note_candles(self, symbol: str, timeframe: str, rows: Sequence[CandleRow]) -> None:
        if rows:
            per_tf = self.candles.setdefault(symbol, {})
            per_tf[timeframe] = max(per_tf.get(timeframe, rows[-1][0]), rows[-1][0])

    def last_trade_key(self, symbol: str) -> int | None:
        mark = self.trades.get(symbol)
        return None if mark is None else mark.last_key

    def last_candle_open(self, symbol: str, timeframe: str) -> int | None:
        return self.candles.get(symbol, {}).get(timeframe)

    def to_state(self) -> dict:
        """A plain, picklable snapshot."""
        return {
            "trades": {
                s: (m.last_key, m.last_ts_ms, tuple(sorted(m.keys_at_last_ts)))
                for s, m in self.trades.items()
            },
            "candles": {s: dict(tfs) for s, tfs in self.candles.items()},
        }

    @classmethod
    def from_state(cls, state: dict | None) -> FeedCursor:
        if not state:
            return cls()
        trades = {
            s: TradeMark(int(k), int(ts), frozenset(int(x) for x in keys))
            for s, (k, ts, keys) in state.get("trades", {}).items()
        }
        candles = {
            s: {tf: int(t) for tf, t in tfs.items()} for s, tfs in state.get("candles", {}).items()
        }
        return cls(trades, candles)


class TimeCursor:
    """De-duplicate overlapping trade polls by (time, key).

    >>> cursor = TimeCursor()
    >>> rows = [(1, 100, 1.0, 1.0, 1, 1), (2, 100, 1.0, 1.0, 2, 1)]
    >>> [r[0] for r in cursor.admit(rows)]
    [1, 2]
    >>> [r[0] for r in cursor.admit(rows + [(3, 100, 1.0, 1.0, 3, 1), (4, 101, 1.0, 1.0, 4, 1)])]
    [3, 4]
    >>> cursor.since_ms
    101
    """

    def __init__(self, mark: TradeMark | None = None) -> None:
        self.since_ms: int | None = None if mark is None else mark.last_ts_ms
        self._seen: set[int] = set() if mark is None else set(mark.keys_at_last_ts)

    def admit(self, rows: Iterable[TradeRow]) -> list[TradeRow]:
        """Rows not seen before, oldest first (see :func:`time_then_id`); advances the cursor
        past them."""
        fresh: list[TradeRow] = []
        for row in sorted(rows, key=time_then_id):
            key, ts = row[0], row[1]
            if self.since_ms is not None and (
                ts < self.since_ms or (ts == self.since_ms and key in self._seen)
            ):
                continue
            if self.since_ms is None or ts > self.since_ms:
                self.since_ms = ts
                self._seen = set()
            self._seen.add(key)
            fresh.append(row)
        return fresh


def time_then_id(row: TradeRow) -> tuple[int, int]:
    """Sort key: time, then the numeric venue id; rows without one (-1) keep their order (the
    sort is stable). ccxt orders equal times by the id *string* ("10" < "9"), so its order
    cannot be trusted within a millisecond."""
    return row[1], row[4]
