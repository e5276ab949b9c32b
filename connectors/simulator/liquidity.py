"""What the matching engine trades against: the recorded quotes and trades at the clock's time.

:class:`TapeLiquidity` answers the engine's two questions about a market — the top of the book
now (:meth:`~TapeLiquidity.book`) and the recorded trades printed since it last asked
(:meth:`~TapeLiquidity.trades_since_last`) — from the same tapes the streams publish.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from connectors.simulator.catalogue import Market
from connectors.simulator.matching import BPS, Book, MatchingConfig, TapeTrade
from connectors.simulator.tape import MS_PER_MINUTE


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


class TapeLiquidity:
    """Books and trade prints of the simulator's markets (keyed by Binance id)."""

    def __init__(self, markets: dict[str, Market], config: MatchingConfig, now_ms: int) -> None:
        self.markets = markets
        self.config = config
        self.skew_bps = Decimal(0)
        """A fault: every book this venue shows is moved by this many basis points."""
        self._cursors = {
            mid: m.trades.trades.count_at_or_before(now_ms) if m.trades else 0
            for mid, m in markets.items()
        }

    def book(self, market_id: str, now_ms: int) -> Book | None:
        """The recorded quote, else a synthetic one around the last price; None before data
        (moved by ``skew_bps`` when that fault is on)."""
        book = self._book(market_id, now_ms)
        if book is None or not self.skew_bps:
            return book
        factor = 1 + self.skew_bps / BPS
        return Book(
            (book.bid * factor).quantize(book.tick),
            book.bid_qty,
            (book.ask * factor).quantize(book.tick),
            book.ask_qty,
            book.tick,
        )

    def _book(self, market_id: str, now_ms: int) -> Book | None:
        market = self.markets.get(market_id)
        if market is None:
            return None
        tick = Decimal(1).scaleb(-market.price_decimals)
        quotes = market.quotes
        if quotes is not None:
            n = quotes.count_at_or_before(now_ms)
            if n > 0:
                _, rows = quotes.rows(n - 1, n)
                cols = {k: float(quotes.column(k, rows)[0]) for k in quotes.columns}
                return Book(
                    _dec(cols["bid"]),
                    _dec(cols["bid_qty"]),
                    _dec(cols["ask"]),
                    _dec(cols["ask_qty"]),
                    tick,
                )
        last = self._last_price(market, now_ms)
        if last is None:
            return None
        half = last * self.config.synthetic_spread_bps / BPS / 2
        size = self.config.synthetic_quantity
        bid = (last - half).quantize(tick)
        ask = max((last + half).quantize(tick), bid + tick)
        return Book(bid, size, ask, size, tick)

    @staticmethod
    def _last_price(market: Market, now_ms: int) -> Decimal | None:
        if market.trades is not None:
            tape = market.trades.trades
            n = tape.count_at_or_before(now_ms)
            if n > 0:
                _, rows = tape.rows(n - 1, n)
                return _dec(tape.column("price", rows)[0])
        if market.bars is not None:
            n = market.bars.count_at_or_before(now_ms - MS_PER_MINUTE)
            if n > 0:
                _, rows = market.bars.rows(n - 1, n)
                return _dec(market.bars.column("close", rows)[0])
        return None

    def trades_since_last(
        self, market_id: str, now_ms: int, buy_below: float | None, sell_above: float | None
    ) -> list[TapeTrade]:
        """Recorded trades printed since the previous call for ``market_id`` that could fill a
        resting order: at or below ``buy_below`` or at or above ``sell_above`` (None: no
        resting order on that side, the trades are skipped)."""
        market = self.markets[market_id]
        if market.trades is None:
            return []
        tape = market.trades.trades
        g0, g1 = self._cursors[market_id], tape.count_at_or_before(now_ms)
        self._cursors[market_id] = max(g0, g1)
        if g1 <= g0 or (buy_below is None and sell_above is None):
            return []
        _, rows = tape.rows(g0, g1)
        prices, sizes = tape.column("price", rows), tape.column("qty", rows)
        wanted = np.zeros(len(prices), dtype=bool)
        if buy_below is not None:
            wanted |= prices <= buy_below
        if sell_above is not None:
            wanted |= prices >= sell_above
        return [
            TapeTrade(_dec(p), _dec(q)) for p, q in zip(prices[wanted], sizes[wanted], strict=True)
        ]
