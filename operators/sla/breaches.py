"""SLA breaches as they happen: which service levels just went below their targets.

:class:`BreachWatch` is given the current figures (feed uptime ratios per feed, the fused-signal
latency p99) at each check and returns a :class:`~schemas.operations.SlaBreach` for every level
that *entered* breach since the last check; a level that recovers is forgotten, so a later
breach is told again. Nothing is told twice while a breach lasts.

>>> from datetime import UTC, datetime
>>> watch = BreachWatch(uptime_target=0.99, latency_p99_s=1.0)
>>> at = datetime(2024, 3, 1, tzinfo=UTC)
>>> [(b.sla.value, b.subject) for b in watch.check({"binance/BTC": 0.9}, 1.5, at)]
[('feed_uptime', 'binance/BTC'), ('fused_latency_p99', 'fused')]
>>> watch.check({"binance/BTC": 0.8}, 1.7, at)   # still in breach: nothing new
[]
>>> watch.check({"binance/BTC": 0.995}, 0.2, at)  # recovered
[]
>>> [b.value for b in watch.check({"binance/BTC": 0.97}, None, at)]
[0.97]
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from schemas.operations import SlaBreach, SlaKind

FUSED = "fused"


class BreachWatch:
    """Remembers which levels are in breach; reports only the new ones."""

    def __init__(self, uptime_target: float, latency_p99_s: float) -> None:
        self.uptime_target = uptime_target
        self.latency_p99_s = latency_p99_s
        self._breached: set[tuple[SlaKind, str]] = set()

    def check(
        self, uptime: Mapping[str, float], latency_p99: float | None, at: datetime
    ) -> list[SlaBreach]:
        now_breached: dict[tuple[SlaKind, str], tuple[float, float]] = {
            (SlaKind.FEED_UPTIME, feed): (ratio, self.uptime_target)
            for feed, ratio in sorted(uptime.items())
            if ratio < self.uptime_target
        }
        if latency_p99 is not None and latency_p99 > self.latency_p99_s:
            now_breached[(SlaKind.FUSED_LATENCY_P99, FUSED)] = (latency_p99, self.latency_p99_s)
        new = [
            SlaBreach(sla=sla, subject=subject, value=value, threshold=threshold, ts=at)
            for (sla, subject), (value, threshold) in now_breached.items()
            if (sla, subject) not in self._breached
        ]
        self._breached = set(now_breached)
        return new
