"""Plausible event times for one stream: absolute bounds and a bounded jump ahead.

A row's event time is out of range when it lies before ``min_timestamp``, after
``max_timestamp``, or more than ``max_time_jump`` past the latest accepted event time of its
stream: one wild timestamp (a unit mistake, a corrupt field) would otherwise push the candle
builder's watermark into the future and send every later trade to the late stream.

Rows going *backwards* in time are not rejected here: the candle builder's watermark routes
them to its late stream, where they are counted and kept.

With a market calendar (:mod:`operators.candles.calendars`) the jump is measured in *open* time:
the weekend between two FX bars, the night between two stock sessions are neither a jump nor
an outlier; only time that passed while the market was open counts.

A genuine gap longer than ``max_time_jump`` (an outage, two files replayed back to back) would
otherwise reject the rest of the stream. So after ``resync_after`` consecutive jumped rows whose
times lie within ``max_time_jump`` of each other, the guard takes the latest of them as the new
present: those rows stay dead-lettered (nothing is lost: they are in the dead-letter output),
the rows after them are judged against the new present.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from operators.candles.calendars import MarketCalendar
from operators.validation.config import ValidationConfig
from operators.validation.reasons import Reason
from operators.validation.verdicts import Verdicts
from schemas.common import datetime_to_ns, ns_to_datetime

NO_REFERENCE = np.iinfo(np.int64).min
"""Reference time of a row with no accepted row before it."""

_MAX_JUMP_NS = 1 << 62
_FIXED_POINT_PASSES = 16


@dataclass(slots=True)
class TimeCheck:
    """Which rows of a batch fail, and the reference each row was compared with."""

    too_early: np.ndarray
    too_late: np.ndarray
    jumped: np.ndarray
    reference_ns: np.ndarray
    """Latest accepted event time before each row (``NO_REFERENCE`` if none)."""


class EventTimeGuard:
    """Event-time plausibility of one stream; picklable state.

    >>> g = EventTimeGuard(min_ns=0, max_ns=10**6, max_jump_ns=100, resync_after=3)
    >>> ts = np.array([10, 20, 500, 30, 40])
    >>> check = g.check(ts, np.ones(5, dtype=bool))
    >>> check.jumped.tolist()
    [False, False, True, False, False]
    >>> g.accept(ts[~check.jumped]); g.latest_ns
    40
    """

    def __init__(
        self,
        min_ns: int,
        max_ns: int,
        max_jump_ns: int,
        resync_after: int,
        calendar: MarketCalendar | None = None,
    ) -> None:
        self.calendar = None if calendar is None or calendar.always_open else calendar
        self.min_ns = int(min_ns)
        self.max_ns = int(max_ns)
        self.max_jump_ns = min(int(max_jump_ns), _MAX_JUMP_NS)
        self.resync_after = int(resync_after)
        self.latest_ns: int | None = None
        self._run = 0
        self._run_low = 0
        self._run_high = 0

    @classmethod
    def from_config(
        cls, config: ValidationConfig, calendar: MarketCalendar | None = None
    ) -> EventTimeGuard:
        return cls(
            datetime_to_ns(config.min_timestamp),
            datetime_to_ns(config.max_timestamp),
            int(config.max_time_jump.total_seconds() * 1e9),
            config.resync_after,
            calendar,
        )

    def check(self, ts_ns: np.ndarray, candidates: np.ndarray) -> TimeCheck:
        """Judge the ``candidates`` rows of a batch (rows already rejected are skipped)."""
        too_early = candidates & (ts_ns < self.min_ns)
        too_late = candidates & (ts_ns > self.max_ns)
        considered = np.flatnonzero(candidates & ~too_early & ~too_late)
        times = ts_ns[considered]
        jumped_here = np.zeros(times.size, dtype=bool)
        reference_here = np.full(times.size, NO_REFERENCE, dtype=np.int64)
        start = 0
        while start < times.size:
            jumped, reference = self._jumps(times[start:])
            jumped_here[start:], reference_here[start:] = jumped, reference
            resynced_at = self._track_run(times[start:], jumped)
            if resynced_at is None:
                break
            start += resynced_at + 1  # rows after the re-anchoring are judged anew
        jumped_all = np.zeros(len(ts_ns), dtype=bool)
        jumped_all[considered] = jumped_here
        reference_all = np.full(len(ts_ns), NO_REFERENCE, dtype=np.int64)
        reference_all[considered] = reference_here
        return TimeCheck(too_early, too_late, jumped_all, reference_all)

    def __deepcopy__(self, memo: dict[int, object]) -> EventTimeGuard:
        """Snapshots (Bytewax deep-copies state every epoch): every attribute is an int."""
        return copy.copy(self)

    def note_no_jumps(self) -> None:
        """A non-empty batch was proven free of jumps without :meth:`check` (the validator's
        fast path): record what ``check`` would have — a run of jumped rows is broken."""
        self._run = 0

    def accept(self, ts_ns: np.ndarray) -> None:
        """Record the event times of the rows finally accepted."""
        if ts_ns.size:
            latest = int(ts_ns.max())
            self.latest_ns = latest if self.latest_ns is None else max(self.latest_ns, latest)

    def _references(self, ts: np.ndarray, accepted: np.ndarray) -> np.ndarray:
        start = NO_REFERENCE if self.latest_ns is None else self.latest_ns
        running = np.maximum.accumulate(np.where(accepted, ts, NO_REFERENCE))
        before = np.concatenate(([NO_REFERENCE], running[:-1])) if ts.size else running
        return np.maximum(before, start)

    def _jumped(self, ts: np.ndarray, reference: np.ndarray) -> np.ndarray:
        known = reference != NO_REFERENCE
        if self.calendar is None:
            return known & (ts > reference + self.max_jump_ns)
        open_since = self.calendar.open_between(np.where(known, reference, ts), ts)
        return known & (open_since > self.max_jump_ns)

    def _jumps(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row i jumped iff ts[i] > (latest accepted time before it) + max_jump.

        The reference depends on which earlier rows were accepted, so this is a fixed point:
        start from "all accepted" and re-derive until stable. The sequence only shrinks and the
        sequential answer is its unique fixed point; real data settles in one or two passes.
        A pathological staircase falls back to the exact row-by-row loop.
        """
        accepted = np.ones(len(ts), dtype=bool)
        for _ in range(_FIXED_POINT_PASSES):
            reference = self._references(ts, accepted)
            jumped = self._jumped(ts, reference)
            if np.array_equal(~jumped, accepted):
                return jumped, reference
            accepted = ~jumped
        return self._jumps_row_by_row(ts)

    def _jumps_row_by_row(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        jumped = np.zeros(len(ts), dtype=bool)
        reference = np.full(len(ts), NO_REFERENCE, dtype=np.int64)
        latest = NO_REFERENCE if self.latest_ns is None else self.latest_ns
        for i, t in enumerate(ts.tolist()):
            reference[i] = latest
            if latest != NO_REFERENCE and self._open_span(latest, t) > self.max_jump_ns:
                jumped[i] = True
            else:
                latest = max(latest, t)
        return jumped, reference

    def _open_span(self, start: int, end: int) -> int:
        """Time from ``start`` to ``end`` that counts for a jump (open time with a calendar)."""
        if self.calendar is None:
            return end - start
        return int(self.calendar.open_between(np.array([start]), np.array([end]))[0])

    def _track_run(self, ts: np.ndarray, jumped: np.ndarray) -> int | None:
        """Count consecutive jumped rows; a long, consistent run becomes the new present.

        Returns the index of the row that completed such a run (``latest_ns`` is then moved
        to the run's latest time), or None.
        """
        if ts.size == 0:
            return None
        first = 0
        if not jumped.all():
            self._run = 0
            first = int(np.flatnonzero(~jumped)[-1]) + 1
        for i in range(first, ts.size):
            t = int(ts[i])
            low, high = min(self._run_low, t), max(self._run_high, t)
            if self._run and self._open_span(low, high) > self.max_jump_ns:
                self._run = 0  # not one regime: start counting again from this row
            if self._run == 0:
                self._run_low = self._run_high = t
            self._run += 1
            self._run_low, self._run_high = min(self._run_low, t), max(self._run_high, t)
            if self._run >= self.resync_after:
                self.latest_ns = self._run_high
                self._run = 0
                return i
        return None


def _iso(ns: int) -> str:
    return ns_to_datetime(ns).isoformat()


def reject_times(
    verdicts: Verdicts, ts_ns: np.ndarray, check: TimeCheck, config: ValidationConfig
) -> None:
    """Turn an :class:`EventTimeGuard` check into ``timestamp_out_of_range`` verdicts."""
    reason = Reason.TIMESTAMP_OUT_OF_RANGE
    verdicts.reject(
        check.too_early,
        reason,
        lambda i: f"ts {_iso(ts_ns[i])} is before min_timestamp {config.min_timestamp.isoformat()}",
    )
    verdicts.reject(
        check.too_late,
        reason,
        lambda i: f"ts {_iso(ts_ns[i])} is after max_timestamp {config.max_timestamp.isoformat()}",
    )
    verdicts.reject(
        check.jumped,
        reason,
        lambda i: (  # a jumped row always has a reference
            f"ts {_iso(ts_ns[i])} is more than max_time_jump {config.max_time_jump} after the "
            f"latest accepted event time {_iso(check.reference_ns[i])}"
        ),
    )
