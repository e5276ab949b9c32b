"""Smart order routing: split an order over venues by expected all-in price.

For each venue quoting the asset, the expected all-in price of taking its top of book is the
quote (ask for a buy, bid for a sell) moved against us by the venue's taker fee and by the
price drift expected while the order travels (``latency_ms × latency_bps_per_ms``). Venues are
taken best first, each up to its displayed depth; what no venue's depth covers goes to the best
venue (it walks that book). A venue without a fresh quote is not used; with no quote at all the
order goes to the first configured venue.

>>> from decimal import Decimal as D
>>> quotes = {
...     "a": VenueQuote("a", bid=D(99), bid_qty=D(1), ask=D(100), ask_qty=D(1), fee_bps=D(10),
...                     latency_ms=5),
...     "b": VenueQuote("b", bid=D(99), bid_qty=D(5), ask=D("100.05"), ask_qty=D(5),
...                     fee_bps=D(2), latency_ms=50)}
>>> plan = route("buy", D(3), quotes, latency_bps_per_ms=D("0.01"), fallback="a")
>>> plan.allocations            # b: 100.05 × (1 + 2.5 bps) < a: 100 × (1 + 10.05 bps)
{'b': Decimal('3')}
>>> route("buy", D(7), quotes, latency_bps_per_ms=D("0.01"), fallback="a").allocations
{'b': Decimal('6'), 'a': Decimal('1')}
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)
BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class VenueQuote:
    """What a venue offers now, and what it costs to use it."""

    venue: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    fee_bps: Decimal
    latency_ms: float

    def all_in(self, buy: bool, latency_bps_per_ms: Decimal) -> Decimal:
        """Expected price per unit, fee and latency drift included (against the trader)."""
        cost = (self.fee_bps + Decimal(repr(self.latency_ms)) * latency_bps_per_ms) / BPS
        return self.ask * (1 + cost) if buy else self.bid * (1 - cost)

    def depth(self, buy: bool) -> Decimal:
        return self.ask_qty if buy else self.bid_qty


@dataclass(frozen=True, slots=True)
class RoutePlan:
    allocations: dict[str, Decimal]
    inputs: dict[str, Any]
    reason: str


def route(
    side: str,
    quantity: Decimal,
    quotes: dict[str, VenueQuote],
    *,
    latency_bps_per_ms: Decimal,
    fallback: str,
) -> RoutePlan:
    """Allocate ``quantity`` over the quoted venues (see the module docstring)."""
    buy = side == "buy"
    if not quotes:
        return RoutePlan({fallback: quantity}, {}, f"no venue quote: all to {fallback}")
    ranked = sorted(
        quotes.values(),
        key=lambda q: (q.all_in(buy, latency_bps_per_ms) * (1 if buy else -1), q.venue),
    )
    inputs = {
        q.venue: {
            "quote": str(q.ask if buy else q.bid),
            "depth": str(q.depth(buy)),
            "fee_bps": str(q.fee_bps),
            "latency_ms": q.latency_ms,
            "all_in": str(q.all_in(buy, latency_bps_per_ms).quantize(Decimal("0.00000001"))),
        }
        for q in ranked
    }
    allocations: dict[str, Decimal] = {}
    left = quantity
    for quote in ranked:
        take = min(left, quote.depth(buy))
        if take > 0:
            allocations[quote.venue] = take
            left -= take
        if left == 0:
            break
    best = ranked[0].venue
    better = " < " if buy else " > "  # a buy pays the least, a sell receives the most
    reason = "best all-in price: " + better.join(inputs[q.venue]["all_in"] for q in ranked)
    if left > 0:
        allocations[best] = allocations.get(best, ZERO) + left
        reason += f"; {left} beyond the displayed depth goes to {best}"
    if len(allocations) > 1:
        reason += f"; split over {len(allocations)} venues"
    return RoutePlan(allocations, inputs, reason)
