"""Feed uptime as a time-weighted share of a window, and latency percentiles over a window.

A feed is *up* while its status is ``live``. Uptime over a window is the time spent live inside
the window divided by the part of the window the feed has been observed (a feed watched for ten
minutes is judged on those ten minutes, not on a day). Time while the symbol's market is
``closed`` (its calendar says so) counts neither way: a stock feed is not down at night.

>>> up = FeedUptime(window_s=100)
>>> up.observe("live", 0); up.observe("stale", 60); up.observe("live", 70)
>>> up.ratio(100)   # live 0–60 and 70–100: 90 of 100 s
0.9
>>> up.ratio(150)   # window 50–150: live 50–60 and 70–150 = 90 of 100 s
0.9
>>> up.ratio(300)   # window 200–300, live throughout
1.0
>>> FeedUptime(60).ratio(10) is None   # never observed
True
>>> night = FeedUptime(window_s=1000)
>>> night.observe("live", 0); night.observe("closed", 50); night.observe("stale", 950)
>>> night.observe("live", 960); night.ratio(1000)   # closed 50–950 left out: 90 of 100 s
0.9
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from collections.abc import Iterable

from schemas.market import FeedStatus


class FeedUptime:
    """Status changes of one feed, and the share of a trailing window it was live."""

    def __init__(self, window_s: float) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        self.window_s = float(window_s)
        # (time, live?) ascending; live? is None while the market is closed (not judged)
        self._changes: deque[tuple[float, bool | None]] = deque()

    def observe(self, status: FeedStatus | str, at_s: float) -> None:
        state = FeedStatus(status)
        live = None if state is FeedStatus.CLOSED else state is FeedStatus.LIVE
        if self._changes and at_s < self._changes[-1][0]:
            return  # reports are in wall-clock order; a stale one changes nothing
        if self._changes and self._changes[-1][1] == live:
            return
        self._changes.append((float(at_s), live))

    def ratio(self, now_s: float) -> float | None:
        if not self._changes:
            return None
        start = max(now_s - self.window_s, self._changes[0][0])
        # forget what ended before the window (keep the change in force at its start)
        while len(self._changes) > 1 and self._changes[1][0] <= start:
            self._changes.popleft()
        if now_s - start <= 0:
            last = self._changes[-1][1]
            return None if last is None else (1.0 if last else 0.0)
        live_s = observed = 0.0
        changes = list(self._changes)
        for i, (at, live) in enumerate(changes):
            begin = max(at, start)
            end = changes[i + 1][0] if i + 1 < len(changes) else now_s
            if live is None or end <= begin:
                continue  # the market was closed: neither up nor down
            observed += end - begin
            if live:
                live_s += end - begin
        if observed <= 0:
            return None  # closed for the whole window
        return round(live_s / observed, 9)


def uptime_of(
    changes: Iterable[tuple[float, str]], until_s: float, window_s: float
) -> float | None:
    """Uptime over the window ending at ``until_s`` from stored status reports (time, status).

    >>> uptime_of([(0, "catching_up"), (10, "live"), (70, "stale"), (80, "live")], 100, 3600)
    0.8
    >>> uptime_of([], 100, 3600) is None
    True
    """
    uptime = FeedUptime(window_s)
    for at_s, status in sorted(changes):
        uptime.observe(status, at_s)
    return uptime.ratio(until_s)


class LatencyWindow:
    """The last ``size`` latencies and their percentiles (nearest-rank).

    >>> w = LatencyWindow(size=100)
    >>> for ms in range(1, 101): w.add(ms / 1000)
    >>> w.percentile(50), w.percentile(99), len(w)
    (0.05, 0.099, 100)
    """

    def __init__(self, size: int = 10_000) -> None:
        self._recent: deque[float] = deque(maxlen=size)
        self._sorted: list[float] = []

    def add(self, seconds: float) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._sorted.remove(self._recent[0])
        self._recent.append(seconds)
        insort(self._sorted, seconds)

    def percentile(self, p: float) -> float | None:
        if not self._sorted:
            return None
        rank = max(1, -(-len(self._sorted) * p // 100))  # ceil(n·p/100), nearest-rank
        return self._sorted[int(rank) - 1]

    def __len__(self) -> int:
        return len(self._recent)
