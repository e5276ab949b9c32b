"""Quotes in the trading core: what the risk guards see of the book, and whether the routing
venues agree on the price.

Live, with several routing venues (smart routing), the guards see one consolidated quote —
the best bid and ask over the venues' fresh quotes, with every venue's top size — and a
divergence between the venues' mids blocks new entries until they agree again. A single
source's quote (a backtest, one venue) is used as it is.
"""

from __future__ import annotations

from operators.divergence import DivergenceConfig, DivergenceMonitor
from operators.execution.engine_state import EngineState, TradingEvent
from schemas.common import datetime_to_ns
from schemas.market import BookTop


class Quotes(EngineState):
    """Takes a buffered quote: the asset's book for the guards, the router's spread, the
    venues' agreement."""

    def _on_quote(self, quote: BookTop) -> list[TradingEvent]:
        self._market(quote.symbol).quote = self._consolidated(quote)
        self.router.on_quote(quote)
        return self._venues_agree(quote)

    def _routing_venue(self, quote: BookTop) -> bool:
        live = self.config.live
        return self.config.mode == "live" and quote.source in {v.name for v in live.venues}

    def _consolidated(self, quote: BookTop) -> BookTop:
        """What the risk guards see of the routing venues: the best bid and ask over their
        fresh quotes, with every venue's top size (smart routing takes each of them); a single
        source's quote, or crossed venues, as is."""
        if not self._routing_venue(quote):
            return quote
        self.venue_books[(quote.symbol, quote.source)] = quote
        max_age = int(self.config.execution.quote_max_age_seconds * 1e9)
        now = datetime_to_ns(quote.ts)
        fresh = [
            q
            for (symbol, _), q in self.venue_books.items()
            if symbol == quote.symbol and 0 <= now - datetime_to_ns(q.ts) <= max_age
        ]
        bid, ask = max(q.bid for q in fresh), min(q.ask for q in fresh)
        if len(fresh) < 2 or ask < bid:
            return quote
        return quote.model_copy(
            update={
                "bid": bid,
                "ask": ask,
                "bid_size": sum(q.bid_size for q in fresh),
                "ask_size": sum(q.ask_size for q in fresh),
                "source": "venues",
            }
        )

    def _venues_agree(self, quote: BookTop) -> list[TradingEvent]:
        """The routing venues' mids must agree: a divergence blocks entries until they do."""
        live = self.config.live
        if not self._routing_venue(quote):
            return []
        monitor = self.venue_prices.get(quote.symbol)
        if monitor is None:
            max_skew = self.config.execution.quote_max_age_seconds
            check = DivergenceConfig(threshold_bps=live.divergence_bps, max_skew_s=max_skew)
            monitor = self.venue_prices[quote.symbol] = DivergenceMonitor(quote.symbol, check)
        event = monitor.observe(quote.source, datetime_to_ns(quote.ts), quote.mid)
        if event is None:
            return []
        self.divergence.update(event)
        return [event]
