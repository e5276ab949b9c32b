"""Route a live source's items inside a flow: market data, quotes, feed health, dead letters.

Live sources emit more kinds of items than a replay; :func:`split_feed` separates them so the
market batches can go through the shared validation → candles → features path while quotes and
health records go to the guards that need them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream, operator

from connectors.feed.health import FeedHealth
from schemas.batches import CandleBatch, TradeBatch
from schemas.market import BookTop
from schemas.records import DeadLetter


@dataclass(frozen=True)
class FeedStreams:
    market: Stream[TradeBatch | CandleBatch]
    quotes: Stream[BookTop]
    health: Stream[FeedHealth]
    dead: Stream[DeadLetter]


def is_market(item: Any) -> bool:
    return isinstance(item, TradeBatch | CandleBatch)


def _as_dead_letter(item: Any) -> DeadLetter:
    if isinstance(item, DeadLetter):
        return item
    return DeadLetter(
        source="feed",
        reason="unexpected_item",
        detail=f"a live source emitted a {type(item).__name__}",
        raw=repr(item)[:4096],
    )


@operator
def split_feed(step_id: str, up: Stream[Any]) -> FeedStreams:
    """Split a live source's stream by item type (anything unknown becomes a dead letter).

    >>> from bytewax.dataflow import Dataflow
    >>> from bytewax.testing import TestingSource
    >>> flow = Dataflow("split_feed_doc")
    >>> streams = split_feed("feed", op.input("in", flow, TestingSource([])))
    >>> sorted(vars(streams))
    ['dead', 'health', 'market', 'quotes']
    """
    market = op.branch("market", up, is_market)
    quotes = op.branch("quotes", market.falses, lambda item: isinstance(item, BookTop))
    health = op.branch("health", quotes.falses, lambda item: isinstance(item, FeedHealth))
    dead = op.map("dead", health.falses, _as_dead_letter)
    return FeedStreams(market.trues, quotes.trues, health.trues, dead)
