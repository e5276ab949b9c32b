"""Candles missing while the market was open: the live feed's data-quality finding.

A live source releases closed candles in order (its sequence gates hold later ones until a
hole is backfilled or skipped). :class:`OpenSessionGaps` watches what is released per (symbol,
timeframe) and, on the symbol's market calendar, counts the bars missing *while the market was
open* between two consecutive candles: a weekend between FX bars, a night or a lunch break
between stock bars adds nothing; a minute lost inside a session is a gap. It adds to the feed's
counters (``open_gaps``, ``open_missing_bars`` in every :class:`~schemas.market.FeedHealth`,
so the ``feed_status``/``feed_events`` tables keep them) and notes an ``open-session gap`` event.

>>> from connectors.feed.health import FeedStats, HealthMonitor
>>> from schemas.common import Timeframe
>>> stats, health = FeedStats(), HealthMonitor("x", ["EUR/USD"], 5, 10)
>>> gaps = OpenSessionGaps(stats, health, {"EUR/USD": "24/5"})
>>> friday = 1_704_491_880_000                          # 2024-01-05 21:58 UTC, 16:58 New York
>>> sunday = 1_704_664_800_000                          # 2024-01-07 22:00 UTC: the week opens
>>> gaps.observe("EUR/USD", Timeframe.M1, [(friday, 1, 1, 1, 1, 0, 0), (sunday, 1, 1, 1, 1, 0, 0)])
>>> stats.open_gaps, stats.open_missing_bars          # 21:59 was open and is missing
(1, 1)
>>> gaps.market_closed("EUR/USD", Timeframe.M1, friday + 120_000, sunday - 60_000)
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np

from connectors.feed.cursor import CandleRow, FeedCursor
from connectors.feed.health import FeedStats, HealthMonitor
from operators.candles.calendars import ALWAYS_OPEN, calendar_for
from schemas.common import Timeframe

_NS_PER_MS = 1_000_000


class OpenSessionGaps:
    """Counts open-market bars missing between released candles (intraday timeframes)."""

    def __init__(
        self,
        stats: FeedStats,
        health: HealthMonitor,
        calendars: Mapping[str, str] | None = None,
        resume: FeedCursor | None = None,
    ) -> None:
        self.stats, self.health = stats, health
        self.calendars = dict(calendars or {})
        self._resume = resume or FeedCursor()
        self._last: dict[tuple[str, str], int] = {}

    def market_closed(self, symbol: str, timeframe: Timeframe, first_ms: int, last_ms: int) -> bool:
        """Whether candles ``first_ms..last_ms`` (open times) all fall while the market was
        closed — a hole REST has no candles for then is no gap (a night, a weekend)."""
        calendar = calendar_for(self.calendars.get(symbol, ALWAYS_OPEN))
        end = np.array([last_ms + timeframe.seconds * 1000], dtype=np.int64) * _NS_PER_MS
        start = np.array([first_ms], dtype=np.int64) * _NS_PER_MS
        return int(calendar.open_between(start, end)[0]) == 0

    def observe(self, symbol: str, timeframe: Timeframe, rows: Sequence[CandleRow]) -> None:
        if not rows:
            return
        key = (symbol, timeframe.value)
        last = self._last.get(key, self._resume.last_candle_open(symbol, timeframe.value))
        self._last[key] = max(rows[-1][0], last if last is not None else rows[-1][0])
        if not timeframe.intraday:
            return
        opens = np.array([r[0] for r in rows], dtype=np.int64)
        if last is not None:
            opens = np.concatenate(([last], opens))
        if len(opens) < 2:
            return
        tf_ms = timeframe.seconds * 1000
        expected, actual = opens[:-1] + tf_ms, opens[1:]
        calendar = calendar_for(self.calendars.get(symbol, ALWAYS_OPEN))
        missing_ns = calendar.open_between(expected * _NS_PER_MS, actual * _NS_PER_MS)
        missing = missing_ns // (tf_ms * _NS_PER_MS)
        for first, count in zip(expected[missing > 0], missing[missing > 0], strict=True):
            self.stats.open_gaps += 1
            self.stats.open_missing_bars += int(count)
            when = datetime.fromtimestamp(int(first) / 1000, UTC).strftime("%Y-%m-%dT%H:%M")
            self.health.note(
                symbol,
                f"open-session gap: {timeframe.value} candles missing {int(count)} from {when}",
            )
