"""Live quotes → closed 1-minute candles, for symbols that have no trades (FX-style).

Every quote update is a tick at the chosen price (``mid`` = (bid + ask) / 2, or ``bid`` /
``ask``), grouped by the UTC minute of its time: first, highest, lowest and last price; volume 0
(a quote is no trade) and ``trades`` = the quote updates — the same convention as quote files
(:mod:`connectors.files.quotes`), so a live minute equals the file's minute on the same ticks.
A minute is released once a quote of a later minute arrives or the clock passes its end
(:meth:`QuoteMinuteBars.flush`), with the mean spread (ask − bid) of its quotes, which the
flow carries as the ``spread`` feature; a minute without quotes has no candle.

>>> bars = QuoteMinuteBars("mid")
>>> bars.add("EUR/USD", 1_000, 1.0, 1.2), bars.add("EUR/USD", 30_000, 1.1, 1.5)
([], [])
>>> [(row, round(spread, 6)) for row, spread in bars.add("EUR/USD", 61_000, 1.0, 1.0)]
[((0, 1.1, 1.3, 1.1, 1.3, 0.0, 2), 0.3)]
>>> bars.flush(119_999), bars.flush(120_000)
([], [('EUR/USD', [((60000, 1.0, 1.0, 1.0, 1.0, 0.0, 1), 0.0)])])
>>> bars.add("EUR/USD", 119_000, 1.0, 1.0), bars.late    # its minute was released: ignored
([], 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from connectors.feed.cursor import CandleRow

QuotePrice = Literal["mid", "bid", "ask"]
QuoteCandle = tuple[CandleRow, float]
"""A closed minute and the mean spread of its quotes."""
_MINUTE_MS = 60_000


@dataclass(slots=True)
class _Minute:
    open_ms: int
    first: float
    high: float
    low: float
    last: float
    count: int
    spread_sum: float


class QuoteMinuteBars:
    """Forming quote minutes per symbol (one owner thread: the feed's loop)."""

    def __init__(self, price: QuotePrice = "mid") -> None:
        if price not in ("mid", "bid", "ask"):
            raise ValueError(f"quote price must be mid, bid or ask, got {price!r}")
        self.price = price
        self._forming: dict[str, _Minute] = {}
        self._released: dict[str, int] = {}
        self.late = 0  # quotes of a minute already released (ignored)

    def add(self, symbol: str, ts_ms: int, bid: float, ask: float) -> list[QuoteCandle]:
        """Take one quote; returns the minute it closed, if any (a late quote joins its own
        minute only while that minute is forming, else it is ignored)."""
        price = {"mid": (bid + ask) / 2, "bid": bid, "ask": ask}[self.price]
        minute = ts_ms - ts_ms % _MINUTE_MS
        forming = self._forming.get(symbol)
        closed: list[QuoteCandle] = []
        if (forming is not None and minute < forming.open_ms) or minute <= self._released.get(
            symbol, minute - 1
        ):
            self.late += 1
            return closed
        if forming is not None and minute > forming.open_ms:
            closed.append(self._release(symbol, forming))
            forming = None
        if forming is None:
            self._forming[symbol] = _Minute(minute, price, price, price, price, 1, ask - bid)
            return closed
        forming.high = max(forming.high, price)
        forming.low = min(forming.low, price)
        forming.last = price
        forming.count += 1
        forming.spread_sum += ask - bid
        return closed

    def flush(self, now_ms: int) -> list[tuple[str, list[QuoteCandle]]]:
        """Release every forming minute that ended at or before ``now_ms``."""
        out = []
        for symbol, forming in list(self._forming.items()):
            if forming.open_ms + _MINUTE_MS <= now_ms:
                out.append((symbol, [self._release(symbol, forming)]))
        return out

    def _release(self, symbol: str, minute: _Minute) -> QuoteCandle:
        del self._forming[symbol]
        self._released[symbol] = minute.open_ms
        row = (minute.open_ms, minute.first, minute.high, minute.low, minute.last, 0.0,
               minute.count)  # fmt: skip
        return row, minute.spread_sum / minute.count
