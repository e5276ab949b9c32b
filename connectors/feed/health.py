"""Feed health: heartbeats and staleness per symbol, for the risk guards.

A live source emits :class:`FeedHealth` records into the flow next to its market data: one when a
symbol's status changes and a heartbeat every few seconds. The risk guards stop new entries on a
symbol whose latest record is not ``live`` (see :attr:`FeedHealth.accepting_entries`).
A symbol whose market is closed (its calendar, e.g. ``XNYS`` at night) is reported ``closed``,
not ``stale``: silence while the market is shut is no finding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from operators.candles.calendars import MarketCalendar, calendar_for
from schemas.market import FeedCounters, FeedHealth, FeedStatus


@dataclass(slots=True)
class FeedStats:
    """Mutable counters behind :class:`FeedCounters` (owned by one feed's loop)."""

    messages: int = 0
    reconnects: int = 0
    rotations: int = 0
    gaps_filled: int = 0
    gaps_skipped: int = 0
    rows_backfilled: int = 0
    duplicates_dropped: int = 0
    dead_lettered: int = 0
    rest_retries: int = 0
    open_gaps: int = 0
    open_missing_bars: int = 0

    def frozen(self) -> FeedCounters:
        return FeedCounters(**{name: getattr(self, name) for name in self.__slots__})


def utc_now() -> datetime:
    return datetime.now(UTC)


class HealthMonitor:
    """Per-symbol status from message times; emits changes and periodic heartbeats.

    >>> from datetime import datetime, UTC
    >>> mon = HealthMonitor("binance", ["X/Y"], stale_after=5, heartbeat_every=10,
    ...                     wall=lambda: datetime(2024, 1, 1, tzinfo=UTC))
    >>> mon.set_connected(True, now=0.0)
    >>> [h.status.value for h in mon.poll(0.0, FeedStats())]
    ['stale']
    >>> mon.message("X/Y", now=1.0); [(h.status.value, h.event) for h in mon.poll(1.0, FeedStats())]
    [('live', 'status')]
    >>> [h.status.value for h in mon.poll(7.0, FeedStats())]
    ['stale']
    >>> sunday = HealthMonitor("alpaca", ["AAPL"], 5, 10,
    ...                        lambda: datetime(2024, 1, 7, tzinfo=UTC), {"AAPL": "XNYS"})
    >>> sunday.set_connected(True, now=0.0)
    >>> [h.status.value for h in sunday.poll(60.0, FeedStats())]
    ['closed']
    """

    def __init__(
        self,
        source: str,
        symbols: Iterable[str],
        stale_after: float,
        heartbeat_every: float,
        wall: Callable[[], datetime] = utc_now,
        calendars: Mapping[str, str] | None = None,
    ) -> None:
        if not stale_after > 0:
            raise ValueError(f"stale_after must be > 0 seconds, got {stale_after}")
        if not heartbeat_every > 0:
            raise ValueError(f"heartbeat_every must be > 0 seconds, got {heartbeat_every}")
        self.source = source
        self.stale_after = float(stale_after)
        self.heartbeat_every = float(heartbeat_every)
        self._wall = wall
        self._symbols = list(symbols)
        self._last_message: dict[str, float] = {}
        self._catching_up: set[str] = set()
        self._reported: dict[str, FeedStatus] = {}
        self._last_report: dict[str, float] = {}
        self._connected = False
        self._notes: list[tuple[str, str]] = []
        self._calendars: dict[str, MarketCalendar] = {
            symbol: calendar_for(name) for symbol, name in (calendars or {}).items()
        }

    def set_connected(self, up: bool, now: float) -> None:
        self._connected = up

    def message(self, symbol: str, now: float) -> None:
        self._last_message[symbol] = now

    def catching_up(self, symbol: str, on: bool) -> None:
        if on:
            self._catching_up.add(symbol)
        else:
            self._catching_up.discard(symbol)

    def note(self, symbol: str, event: str) -> None:
        """Report ``event`` (e.g. a skipped gap) for ``symbol`` at the next poll."""
        self._notes.append((symbol, event))

    def status(self, symbol: str, now: float) -> FeedStatus:
        if not self._connected:
            return FeedStatus.DISCONNECTED
        if not self.market_open(symbol):
            return FeedStatus.CLOSED
        if symbol in self._catching_up:
            return FeedStatus.CATCHING_UP
        last = self._last_message.get(symbol)
        if last is None or now - last > self.stale_after:
            return FeedStatus.STALE
        return FeedStatus.LIVE

    def market_open(self, symbol: str) -> bool:
        """Whether ``symbol``'s market is open now (no calendar: always)."""
        calendar = self._calendars.get(symbol)
        if calendar is None or calendar.always_open:
            return True
        now_ns = np.array([int(self._wall().timestamp() * 1e9)], dtype=np.int64)
        return bool(calendar.is_open(now_ns)[0])

    def poll(self, now: float, stats: FeedStats) -> list[FeedHealth]:
        """Records due at ``now``: status changes, notes and heartbeats."""
        out: list[FeedHealth] = []
        counters: FeedCounters | None = None
        notes, self._notes = self._notes, []
        for symbol in self._symbols:
            status = self.status(symbol, now)
            events = [event for s, event in notes if s == symbol]
            if status is not self._reported.get(symbol):
                events.insert(0, "status")
            elif not events and now - self._last_report.get(symbol, now) >= self.heartbeat_every:
                events.append("heartbeat")
            if not events:
                self._last_report.setdefault(symbol, now)
                continue
            counters = counters or stats.frozen()
            last = self._last_message.get(symbol)
            silence = None if last is None else max(0.0, now - last)
            for event in events:
                out.append(
                    FeedHealth(
                        source=self.source,
                        symbol=symbol,
                        status=status,
                        ts=self._wall(),
                        silence_s=silence,
                        event=event,
                        counters=counters,
                    )
                )
            self._reported[symbol] = status
            self._last_report[symbol] = now
        return out
