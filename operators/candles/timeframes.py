"""Timeframe arithmetic for candle cores: buckets, roll-up targets, inference.

Intraday buckets are aligned to the Unix epoch in UTC: a ``15m`` bucket starts at :00, :15,
:30 or :45, a ``4h`` bucket at 00:00, 04:00 … UTC. ``1d`` and ``1w`` buckets follow the market's
calendar (:class:`Buckets`). Timestamps are int64 nanoseconds.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from operators.candles.calendars import NO_BUCKET, AlwaysOpen, MarketCalendar
from schemas.common import ALL_TIMEFRAMES, INTRADAY_TIMEFRAMES, Timeframe, ns_to_datetime

WEEK_ORIGIN_NS = 4 * 86_400 * 1_000_000_000
"""1970-01-05, the first Monday of the epoch: weeks are aligned to it."""


def floor_to(ts_ns: np.ndarray, step_ns: int) -> np.ndarray:
    """Start of the epoch-aligned bucket of length ``step_ns`` holding each timestamp.

    Floor division, so timestamps before 1970 land in the right bucket too.

    >>> floor_to(np.array([0, 59, 60, -1]), 60).tolist()
    [0, 0, 60, -60]
    """
    return np.floor_divide(ts_ns, step_ns) * step_ns


class Buckets:
    """Where the candles of one timeframe start and end on one market's calendar.

    * intraday timeframes: UTC epoch boundaries;
    * ``1d``: the calendar's trading day (crypto: UTC midnight; FX: from the 17:00 New York
      close; stocks and futures: the exchange session);
    * ``1w``: the trading days of one Monday-based week.

    On a session market (not 24/7) an instant while the market is closed belongs to no bucket
    (``NO_BUCKET``): its candles never include closed hours. ``intraday_rows`` says the
    instants are open times of intraday candles: then a day or week holds only those within
    its sessions (without it, a daily bar stamped at its session's date or close also belongs
    to that session, as daily files stamp them).

    >>> day = 86_400 * 10**9
    >>> Buckets(Timeframe.W1).start(np.array([10 * day])).tolist() == [11 * day - 7 * day]
    True
    >>> Buckets(Timeframe.H4).end(np.array([0])).tolist()
    [14400000000000]
    """

    def __init__(
        self,
        timeframe: Timeframe,
        calendar: MarketCalendar | None = None,
        *,
        intraday_rows: bool = False,
    ) -> None:
        self.timeframe = Timeframe(timeframe)
        self.calendar = calendar or AlwaysOpen()
        self.intraday_rows = intraday_rows

    def start(self, ts_ns: np.ndarray) -> np.ndarray:
        """Open time of each instant's bucket, or ``NO_BUCKET``."""
        if self.timeframe is Timeframe.D1:
            start = self.calendar.day_start(ts_ns)
        elif self.timeframe is Timeframe.W1:
            start = self.calendar.week_start(ts_ns)
        else:
            start = floor_to(ts_ns, self.timeframe.ns)
        if self.calendar.always_open or not (self.intraday_rows or self.timeframe.intraday):
            return start
        return np.where(self.calendar.is_open(ts_ns), start, NO_BUCKET)

    def end(self, start_ns: np.ndarray) -> np.ndarray:
        """Close of the buckets opening at ``start_ns``."""
        if self.timeframe is Timeframe.D1:
            return self.calendar.day_end(start_ns)
        if self.timeframe is Timeframe.W1:
            return self.calendar.week_end(start_ns)
        return np.asarray(start_ns, np.int64) + self.timeframe.ns


def is_aligned(ts_ns: np.ndarray, timeframe: Timeframe) -> np.ndarray:
    """Open times on the timeframe's UTC grid (weeks: Mondays; days: midnight).

    >>> is_aligned(np.array([0, 4 * 86_400 * 10**9]), Timeframe.W1).tolist()
    [False, True]
    """
    return (np.asarray(ts_ns, np.int64) - _grid_origin(timeframe)) % timeframe.ns == 0


def is_aligned_ns(ts_ns: int, timeframe: Timeframe) -> bool:
    """:func:`is_aligned` of one open time, in Python integers (a live feed's one candle).

    >>> is_aligned_ns(4 * 86_400 * 10**9, Timeframe.W1), is_aligned_ns(1, Timeframe.M1)
    (True, False)
    """
    return (ts_ns - _grid_origin(timeframe)) % timeframe.ns == 0


def _grid_origin(timeframe: Timeframe) -> int:
    return WEEK_ORIGIN_NS if timeframe is Timeframe.W1 else 0


def format_ns(ts_ns: int) -> str:
    """A timestamp for error messages: ISO UTC plus the raw nanoseconds.

    >>> format_ns(60_000_000_000)
    '1970-01-01T00:01:00+00:00 (ts_ns=60000000000)'
    """
    return f"{ns_to_datetime(int(ts_ns)).isoformat()} (ts_ns={int(ts_ns)})"


def rollup_targets(
    source: Timeframe, targets: Iterable[Timeframe] | None = None
) -> tuple[Timeframe, ...]:
    """Validated roll-up targets for ``source``, finest first, without duplicates.

    ``None`` means every intraday timeframe coarser than ``source`` (for a daily source: ``1w``);
    ``1d`` and ``1w`` from intraday candles are asked for by name. A target must be coarser
    than the source and, if intraday, a whole multiple of it (days and weeks follow the
    calendar).

    >>> [t.value for t in rollup_targets(Timeframe.M5)]
    ['15m', '1h', '4h']
    >>> rollup_targets(Timeframe.H1, [Timeframe.M15])
    Traceback (most recent call last):
    ...
    ValueError: target timeframe 15m is not coarser than the source timeframe 1h; ...
    """
    source = Timeframe(source)
    if targets is None:
        pool = INTRADAY_TIMEFRAMES if source.intraday else ALL_TIMEFRAMES
        return tuple(t for t in pool if t.seconds > source.seconds)
    chosen = sorted({Timeframe(t) for t in targets}, key=lambda t: t.seconds)
    for target in chosen:
        if target.seconds <= source.seconds:
            raise ValueError(
                f"target timeframe {target.value} is not coarser than the source timeframe "
                f"{source.value}; roll-ups only aggregate into coarser candles"
            )
        if target.intraday and target.seconds % source.seconds:
            raise ValueError(
                f"target timeframe {target.value} is not a whole multiple of the source "
                f"timeframe {source.value}"
            )
    return tuple(chosen)


def infer_timeframe(ts_ns: np.ndarray) -> Timeframe:
    """The timeframe of candles from the spacing of their open times.

    The spacing is the greatest common divisor of the gaps between consecutive open times, so
    missing candles do not mislead it; it must be one of Quorum's timeframes and every open time
    must be aligned to it (days to midnight UTC, weeks to Monday midnight UTC). The error says
    which option names the timeframe instead.

    >>> infer_timeframe(np.array([0, 300, 900, 1200]) * 1_000_000_000).value
    '5m'
    >>> infer_timeframe(np.array([0, 90]) * 1_000_000_000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: candle spacing of 90 s is not a known timeframe; expected one of 1m, ..., 1w ...
    """
    ts = np.asarray(ts_ns, dtype=np.int64)
    if len(ts) < 2:
        raise ValueError(
            f"cannot infer a timeframe from {len(ts)} candle(s); pass it with --timeframe"
        )
    gaps = np.diff(ts)
    if np.any(gaps <= 0):
        bad = int(np.flatnonzero(gaps <= 0)[0]) + 1
        raise ValueError(
            f"candle open times must be strictly increasing; {format_ns(ts[bad])} follows "
            f"{format_ns(ts[bad - 1])}"
        )
    spacing_ns = int(np.gcd.reduce(gaps))
    by_ns = {t.ns: t for t in ALL_TIMEFRAMES}
    if spacing_ns not in by_ns:
        allowed = ", ".join(t.value for t in ALL_TIMEFRAMES)
        raise ValueError(
            f"candle spacing of {spacing_ns / 1e9:g} s is not a known timeframe; "
            f"expected one of {allowed} (pass it with --timeframe)"
        )
    timeframe = by_ns[spacing_ns]
    misaligned = ~is_aligned(ts, timeframe)
    if misaligned.any():
        raise ValueError(
            f"candle at {format_ns(ts[np.argmax(misaligned)])} is not aligned to "
            f"{timeframe.value} epoch boundaries"
        )
    return timeframe
