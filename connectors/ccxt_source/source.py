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
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bytewax.inputs import FixedPartitionedSource

from connectors.ccxt_source.config import PollingConfig
from connectors.ccxt_source.poller import Poller
from connectors.feed.cursor import FeedCursor
from connectors.feed.health import utc_now
from connectors.feed.outbox import Outbox
from connectors.feed.partition import FeedPartition


class PollingPartition(FeedPartition):
    """A feed partition that exposes its poller for inspection."""

    def __init__(self, name: str, poller: Poller, **kwargs: Any) -> None:
        self.poller = poller
        super().__init__(name, poller.outbox, poller.run, **kwargs)


class CcxtPollingSource(FixedPartitionedSource[object, dict]):
    """Polls trades and closed candles of ``config.symbols`` on ``config.exchange``."""

    def __init__(
        self,
        config: PollingConfig,
        *,
        run_for: float | None = None,
        max_trades: int | None = None,
        seed: int | None = None,
        wall: Callable[[], datetime] = utc_now,
        exchange_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.config = config
        n = min(config.partitions, len(config.symbols))
        self.groups = [tuple(config.symbols[i::n]) for i in range(n)]
        self._run_for = run_for
        self._max_trades = max_trades
        self._seed = seed
        self._wall = wall
        self._exchange_factory = exchange_factory

    def list_parts(self) -> list[str]:
        return [f"{self.config.source}-{i}" for i in range(len(self.groups))]

    def build_part(
        self, step_id: str, for_part: str, resume_state: dict | None
    ) -> PollingPartition:
        index = int(for_part.rsplit("-", 1)[1])
        poller = Poller(
            self.config,
            self.groups[index],
            Outbox(self.config.source, FeedCursor.from_state(resume_state)),
            FeedCursor.from_state(resume_state),
            rng=random.Random(None if self._seed is None else self._seed + index),
            wall=self._wall,
            exchange_factory=self._exchange_factory,
        )
        return PollingPartition(
            for_part, poller, run_for=self._run_for, max_trades=self._max_trades
        )
