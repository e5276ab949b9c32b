"""The Binance WebSocket market-data source for Bytewax.

A :class:`BinanceSource` is a ``FixedPartitionedSource``: one partition per group of symbols whose
streams fit one connection (≤ 1,024). Each partition runs a
:class:`~connectors.binance.session.BinanceSession` in a background thread and emits, per
``next_batch`` call (never blocking):

* one :class:`~schemas.batches.TradeBatch` per symbol (trades in id order, none lost or repeated),
* one :class:`~schemas.batches.CandleBatch` per symbol and timeframe (closed klines only),
* the latest :class:`~schemas.market.BookTop` per symbol when ``book_ticker`` is on (quotes are
  conflated; spot bookTicker carries no time, so ``ts`` is the receive time),
* :class:`~schemas.records.DeadLetter` for frames that could not be used,
* :class:`~connectors.feed.health.FeedHealth` heartbeats and status changes.

The snapshot is the last trade id and closed-candle open time emitted per symbol; a flow resumed
from it fetches exactly the missing part over REST before going live again.
"""

from __future__ import annotations

import random
from typing import Any

from connectors.binance.config import BinanceConfig
from connectors.binance.session import BinanceSession
from connectors.binance.streams import plan_connections
from connectors.feed.cursor import FeedCursor
from connectors.feed.outbox import Outbox
from connectors.feed.partition import SessionPartition
from connectors.feed.source import GroupedFeedSource


class BinancePartition(SessionPartition):
    """A feed partition running a :class:`BinanceSession` (``.session``: counters, gates)."""


class BinanceSource(GroupedFeedSource):
    """Live Binance market data (see the module docstring for what it emits).

    ``run_for`` (seconds) or ``max_trades`` end every partition: bounded runs and tests.
    ``seed`` fixes the reconnect jitter.
    """

    def __init__(self, config: BinanceConfig, **options: Any) -> None:
        self.config = config
        groups = plan_connections(
            list(config.symbols), config.channels, config.max_streams_per_connection
        )
        super().__init__(config.source_name, groups, **options)

    def build_feed(
        self,
        part: str,
        symbols: tuple[str, ...],
        outbox: Outbox,
        resume: FeedCursor,
        rng: random.Random,
    ) -> BinancePartition:
        session = BinanceSession(
            self.config,
            symbols,
            outbox,
            resume,
            rng=rng,
            wall=self._wall,
            exchange_factory=self._exchange_factory,
        )
        return BinancePartition(part, session, **self.bounds)
