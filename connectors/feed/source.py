"""The shared shape of the live sources: symbol groups, one background-feed partition each.

A subclass says how a group's feed is built (:meth:`GroupedFeedSource.build_feed`); naming the
partitions, restoring the cursor from a snapshot, seeding the reconnect jitter per partition
and bounding runs (``run_for`` seconds, ``max_trades``) are done here once.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from bytewax.inputs import FixedPartitionedSource

from connectors.feed.cursor import FeedCursor
from connectors.feed.health import utc_now
from connectors.feed.outbox import Outbox
from connectors.feed.partition import FeedPartition


class GroupedFeedSource(FixedPartitionedSource[object, dict]):
    """Partitions ``{name}-{i}``, one per symbol group; the snapshot is the emitted cursor."""

    def __init__(
        self,
        name: str,
        groups: Sequence[tuple[str, ...]],
        *,
        run_for: float | None = None,
        max_trades: int | None = None,
        seed: int | None = None,
        wall: Callable[[], datetime] = utc_now,
        exchange_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.name = name
        self.groups = list(groups)
        self._run_for = run_for
        self._max_trades = max_trades
        self._seed = seed
        self._wall = wall
        self._exchange_factory = exchange_factory

    def list_parts(self) -> list[str]:
        return [f"{self.name}-{i}" for i in range(len(self.groups))]

    def build_part(self, step_id: str, for_part: str, resume_state: dict | None) -> FeedPartition:
        index = int(for_part.rsplit("-", 1)[1])
        return self.build_feed(
            for_part,
            self.groups[index],
            Outbox(self.name, FeedCursor.from_state(resume_state)),
            FeedCursor.from_state(resume_state),
            random.Random(None if self._seed is None else self._seed + index),
        )

    def build_feed(
        self,
        part: str,
        symbols: tuple[str, ...],
        outbox: Outbox,
        resume: FeedCursor,
        rng: random.Random,
    ) -> FeedPartition:
        """The partition running ``symbols``' feed; it emits what the feed puts in ``outbox``."""
        raise NotImplementedError

    @property
    def bounds(self) -> dict[str, Any]:
        """Keyword arguments that end a partition: ``run_for`` and ``max_trades``."""
        return {"run_for": self._run_for, "max_trades": self._max_trades}
