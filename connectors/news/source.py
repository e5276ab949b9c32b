"""A Bytewax source polling a CryptoPanic-style endpoint: scored posts as they are published.

One partition; each poll's new posts are scored locally (VADER + votes) before they enter the
flow, so no step of the flow waits for a model. The snapshot is the list of post ids already
emitted: a resumed flow does not emit them again. An unreachable feed is logged and polled
again at the next interval (the error never names the token).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from connectors.news.config import NewsPollerConfig
from connectors.news.poller import NewsFeedError, NewsPoller
from operators.signals.text.sentiment import VaderScorer

logger = logging.getLogger(__name__)


class _NewsPartition(StatefulSourcePartition[Any, list[str]]):
    def __init__(
        self, config: NewsPollerConfig, seen: list[str] | None, max_polls: int | None
    ) -> None:
        self._poller = NewsPoller(config, seen=seen)
        self._scorer = VaderScorer()
        self._interval = timedelta(seconds=config.poll_interval_seconds)
        self._next = datetime.now(UTC)
        self._polls_left = max_polls
        self.errors = 0

    def next_batch(self) -> list[Any]:
        if self._polls_left is not None:
            if self._polls_left <= 0:
                raise StopIteration
            self._polls_left -= 1
        last = self._polls_left == 0
        self._next = datetime.now(UTC) + (timedelta(0) if last else self._interval)
        try:
            posts, dead = self._poller.poll()
        except NewsFeedError as exc:
            self.errors += 1
            logger.warning("news poll failed: %s", exc)
            return []
        return [*dead, *(self._scorer.scored(p) for p in posts)]

    def next_awake(self) -> datetime | None:
        return self._next

    def snapshot(self) -> list[str]:
        return self._poller.state()

    def close(self) -> None:
        self._poller.close()


class NewsPollingSource(FixedPartitionedSource[Any, list[str]]):
    """Scored posts (:class:`~schemas.news.ScoredPost`) and dead letters from a news endpoint.

    ``max_polls`` ends the source after that many polls (tests, bounded runs).
    """

    def __init__(self, config: NewsPollerConfig, *, max_polls: int | None = None) -> None:
        self.config = config
        self.max_polls = max_polls

    def list_parts(self) -> list[str]:
        return ["news"]

    def build_part(
        self, step_id: str, for_part: str, resume_state: list[str] | None
    ) -> _NewsPartition:
        return _NewsPartition(self.config, resume_state, self.max_polls)
