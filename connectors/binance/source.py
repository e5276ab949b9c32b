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
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bytewax.inputs import FixedPartitionedSource

from connectors.binance.config import BinanceConfig
from connectors.binance.session import BinanceSession
from connectors.binance.streams import plan_connections
from connectors.feed.cursor import FeedCursor
from connectors.feed.health import utc_now
from connectors.feed.outbox import Outbox
from connectors.feed.partition import FeedPartition


class BinancePartition(FeedPartition):
    """A feed partition that exposes its session (counters, gates) for inspection."""

    def __init__(self, name: str, session: BinanceSession, **kwargs: Any) -> None:
        self.session = session
        super().__init__(name, session.outbox, session.run, **kwargs)


class BinanceSource(FixedPartitionedSource[object, dict]):
    """Live Binance market data (see the module docstring for what it emits).

    ``run_for`` (seconds) or ``max_trades`` end every partition: bounded runs and tests.
    ``seed`` fixes the reconnect jitter.
    """

    def __init__(
        self,
        config: BinanceConfig,
        *,
        run_for: float | None = None,
        max_trades: int | None = None,
        seed: int | None = None,
        wall: Callable[[], datetime] = utc_now,
        exchange_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.config = config
        self.groups = plan_connections(
            list(config.symbols), config.channels, config.max_streams_per_connection
        )
        self._run_for = run_for
        self._max_trades = max_trades
        self._seed = seed
        self._wall = wall
        self._exchange_factory = exchange_factory

    def list_parts(self) -> list[str]:
        return [f"{self.config.source_name}-{i}" for i in range(len(self.groups))]

    def build_part(
        self, step_id: str, for_part: str, resume_state: dict | None
    ) -> BinancePartition:
        index = int(for_part.rsplit("-", 1)[1])
        symbols = self.groups[index]
        emitted = FeedCursor.from_state(resume_state)
        session = BinanceSession(
            self.config,
            symbols,
            Outbox(self.config.source_name, emitted),
            FeedCursor.from_state(resume_state),
            rng=random.Random(None if self._seed is None else self._seed + index),
            wall=self._wall,
            exchange_factory=self._exchange_factory,
        )
        return BinancePartition(
            for_part, session, run_for=self._run_for, max_trades=self._max_trades
        )
