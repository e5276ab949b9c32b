"""Timeframe arithmetic for candle cores: epoch alignment, roll-up targets, inference.

Every bucket is aligned to the Unix epoch in UTC: a ``15m`` bucket starts at :00, :15, :30 or
:45, a ``4h`` bucket at 00:00, 04:00 … UTC. Timestamps are int64 nanoseconds.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from schemas.common import ALL_TIMEFRAMES, Timeframe, ns_to_datetime


def floor_to(ts_ns: np.ndarray, step_ns: int) -> np.ndarray:
    """Start of the epoch-aligned bucket of length ``step_ns`` holding each timestamp.

    Floor division, so timestamps before 1970 land in the right bucket too.

    >>> floor_to(np.array([0, 59, 60, -1]), 60).tolist()
    [0, 0, 60, -60]
    """
    return np.floor_divide(ts_ns, step_ns) * step_ns


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

    ``None`` means every timeframe coarser than ``source``. A target must be coarser than the
    source and a whole multiple of it.

    >>> [t.value for t in rollup_targets(Timeframe.M5)]
    ['15m', '1h', '4h']
    >>> rollup_targets(Timeframe.H1, [Timeframe.M15])
    Traceback (most recent call last):
    ...
    ValueError: target timeframe 15m is not coarser than the source timeframe 1h; ...
    """
    source = Timeframe(source)
    if targets is None:
        return tuple(t for t in ALL_TIMEFRAMES if t.seconds > source.seconds)
    chosen = sorted({Timeframe(t) for t in targets}, key=lambda t: t.seconds)
    for target in chosen:
        if target.seconds <= source.seconds:
            raise ValueError(
                f"target timeframe {target.value} is not coarser than the source timeframe "
                f"{source.value}; roll-ups only aggregate into coarser candles"
            )
        if target.seconds % source.seconds:
            raise ValueError(
                f"target timeframe {target.value} is not a whole multiple of the source "
                f"timeframe {source.value}"
            )
    return tuple(chosen)


def infer_timeframe(ts_ns: np.ndarray) -> Timeframe:
    """The timeframe of candles from the spacing of their open times.

    The spacing is the greatest common divisor of the gaps between consecutive open times, so
    missing candles do not mislead it; it must be one of Quorum's timeframes and every open time
    must be aligned to it.

    >>> infer_timeframe(np.array([0, 300, 900, 1200]) * 1_000_000_000).value
    '5m'
    >>> infer_timeframe(np.array([0, 90]) * 1_000_000_000)
    Traceback (most recent call last):
    ...
    ValueError: candle spacing of 90 s is not a known timeframe; expected one of 1m, 5m, 15m, 1h, 4h
    """
    ts = np.asarray(ts_ns, dtype=np.int64)
    if len(ts) < 2:
        raise ValueError(
            f"cannot infer a timeframe from {len(ts)} candle(s); pass the timeframe explicitly"
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
            f"expected one of {allowed}"
        )
    timeframe = by_ns[spacing_ns]
    misaligned = ts % timeframe.ns != 0
    if misaligned.any():
        raise ValueError(
            f"candle at {format_ns(ts[np.argmax(misaligned)])} is not aligned to "
            f"{timeframe.value} epoch boundaries"
        )
    return timeframe
