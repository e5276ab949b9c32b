"""The ccxt polling source for Bytewax: any exchange ccxt supports, by name.

Emits the same items as the Binance WebSocket source — one
:class:`~schemas.batches.TradeBatch` per symbol and one :class:`~schemas.batches.CandleBatch` per
symbol and timeframe per batch, :class:`~schemas.records.DeadLetter` for malformed rows and
:class:`~connectors.feed.health.FeedHealth` — and snapshots the same
:class:`~connectors.feed.cursor.FeedCursor`, so a resumed flow continues after the last trade and
candle it emitted.
"""

from __future__ import annotations

import random
from typing import Any

from connectors.ccxt_source.config import PollingConfig
from connectors.ccxt_source.poller import Poller
from connectors.feed.cursor import FeedCursor
from connectors.feed.outbox import Outbox
from connectors.feed.partition import FeedPartition
from connectors.feed.source import GroupedFeedSource


class PollingPartition(FeedPartition):
    """A feed partition that exposes its poller for inspection."""

    def __init__(self, name: str, poller: Poller, **kwargs: Any) -> None:
        self.poller = poller
        super().__init__(name, poller.outbox, poller.run, **kwargs)


class CcxtPollingSource(GroupedFeedSource):
    """Polls trades and closed candles of ``config.symbols`` on ``config.exchange``."""

    def __init__(self, config: PollingConfig, **options: Any) -> None:
        self.config = config
        n = min(config.partitions, len(config.symbols))
        super().__init__(config.source, [tuple(config.symbols[i::n]) for i in range(n)], **options)

    def build_feed(
        self,
        part: str,
        symbols: tuple[str, ...],
        outbox: Outbox,
        resume: FeedCursor,
        rng: random.Random,
    ) -> PollingPartition:
        poller = Poller(
            self.config,
            symbols,
            outbox,
            resume,
            rng=rng,
            wall=self._wall,
            exchange_factory=self._exchange_factory,
        )
        return PollingPartition(part, poller, **self.bounds)
