"""Validation of one symbol's candle batches (candle input files): a pure, picklable core."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from operators.candles.calendars import NO_BUCKET, MarketCalendar
from operators.candles.timeframes import is_aligned
from operators.validation.config import ValidationConfig
from operators.validation.reasons import ACCEPTED, Reason
from operators.validation.timeguard import NO_REFERENCE, EventTimeGuard, reject_times
from operators.validation.verdicts import Verdicts
from schemas.batches import CandleBatch
from schemas.common import Timeframe, ns_to_datetime
from schemas.records import DeadLetter

_PRICE_FIELDS = ("open", "high", "low", "close")
MIN_JUMP_BARS = 10
"""A candle stream may always skip this many bars (``max_time_jump`` is the floor otherwise)."""


@dataclass(slots=True)
class _TimeframeState:
    guard: EventTimeGuard
    last_open_ns: int = NO_REFERENCE
    rows_seen: Counter[str] = field(default_factory=Counter)
    """Candles judged per source: a candle's position in its stream names its occurrence."""


def _first_field(columns: dict[str, np.ndarray], bad: dict[str, np.ndarray], i: int) -> str:
    name = next(n for n in bad if bad[n][i])
    return f"{name} {columns[name][i]}"


class CandleValidator:
    """Checks the candles of one symbol (any number of timeframes) and counts per reason.

    Checks, in order (a row gets the reason of the first it fails):

    1. ``non_finite_value`` — a NaN or ±inf among open, high, low, close, volume;
    2. ``non_positive_price`` — a price ≤ 0; ``price_out_of_range`` — above ``max_price``;
    3. ``negative_volume``;
    4. ``inconsistent_ohlc`` — high < max(open, close) or low > min(open, close);
    5. ``misaligned_open_time`` — open time not a multiple of the timeframe (UTC epoch; weeks
       from Monday); a day or week bar of a session market must fall on a trading day;
    6. ``timestamp_out_of_range`` — as for trades (:mod:`.timeguard`), per timeframe (a jump
       of up to :data:`MIN_JUMP_BARS` bars always passes); with a
       ``calendar`` only open-market time counts towards a jump;
    7. ``duplicate_open_time`` / ``non_increasing_open_time`` — open time equal to or before
       the latest accepted candle of the same timeframe.

    >>> v = CandleValidator("BTC-PERP")
    >>> t0 = 1_640_995_200_000_000_000
    >>> batch = CandleBatch.from_columns("BTC-PERP", "1m", [t0, t0 + 60 * 10**9, t0],
    ...     [10, 11, 11], [12, 10, 12], [9, 10, 10], [11, 11, 12], [5, 5, 5])
    >>> good, dead = v.validate(batch)
    >>> good.ts_ns.tolist() == [t0], [d.reason for d in dead]
    (True, ['inconsistent_ohlc', 'duplicate_open_time'])
    """

    def __init__(
        self,
        symbol: str,
        config: ValidationConfig | None = None,
        calendar: MarketCalendar | None = None,
    ) -> None:
        self.symbol = symbol
        self.config = config or ValidationConfig()
        self.calendar = calendar
        self.counts: Counter[str] = Counter()
        self._streams: dict[Timeframe, _TimeframeState] = {}

    def _misaligned(self, ts: np.ndarray, timeframe: Timeframe) -> np.ndarray:
        calendar = self.calendar
        if timeframe.intraday or calendar is None or calendar.always_open:
            return ~is_aligned(ts, timeframe)
        return calendar.day_start(ts) == NO_BUCKET  # vendors stamp days differently

    def _state(self, timeframe: Timeframe) -> _TimeframeState:
        if timeframe not in self._streams:
            guard = EventTimeGuard.from_config(self.config, self.calendar)
            # A few missing bars are no jump whatever the timeframe: daily bars across a
            # weekend or a holiday on a 24/7 clock must not need a calendar to pass.
            guard.max_jump_ns = max(guard.max_jump_ns, MIN_JUMP_BARS * timeframe.ns)
            self._streams[timeframe] = _TimeframeState(guard)
        return self._streams[timeframe]

    def validate(self, batch: CandleBatch) -> tuple[CandleBatch, list[DeadLetter]]:
        """The good candles of ``batch`` (in their order) and one dead letter per bad one."""
        if batch.symbol != self.symbol:
            raise ValueError(f"validator of {self.symbol} got a batch of {batch.symbol}")
        cfg = self.config
        state = self._state(batch.timeframe)
        columns = {n: getattr(batch, n) for n in (*_PRICE_FIELDS, "volume")}
        ts = batch.ts_ns
        v = Verdicts(len(batch))
        with np.errstate(invalid="ignore"):
            non_finite = {n: ~np.isfinite(c) for n, c in columns.items()}
            non_positive = {n: columns[n] <= 0 for n in _PRICE_FIELDS}
            too_high = {n: columns[n] > cfg.max_price for n in _PRICE_FIELDS}
        tf = batch.timeframe
        first_row = state.rows_seen[batch.source]
        state.rows_seen[batch.source] += len(batch)
        value_checks = (
            (non_finite, Reason.NON_FINITE_VALUE, "is not finite"),
            (non_positive, Reason.NON_POSITIVE_PRICE, "is not positive"),
            (too_high, Reason.PRICE_OUT_OF_RANGE, f"is above max_price {cfg.max_price:g}"),
        )
        for masks, reason, problem in value_checks:
            v.reject(
                np.logical_or.reduce(list(masks.values())),
                reason,
                lambda i, m=masks, p=problem: f"{_first_field(columns, m, i)} {p}",
            )
        v.reject(
            batch.volume < 0,
            Reason.NEGATIVE_VOLUME,
            lambda i: f"volume {batch.volume[i]} is negative",
        )
        self._reject_inconsistent(v, batch)
        v.reject(
            self._misaligned(ts, tf),
            Reason.MISALIGNED_OPEN_TIME,
            lambda i: (
                f"ts {ns_to_datetime(int(ts[i])).isoformat()} is not on a {tf.value} boundary"
            ),
        )
        reject_times(v, ts, state.guard.check(ts, v.ok), cfg)
        self._reject_unordered(v, ts, state)
        self.counts.update(v.counts())
        good = batch if v.all_ok else batch.take(v.ok)
        if len(good):
            state.guard.accept(good.ts_ns)
            state.last_open_ns = max(state.last_open_ns, int(good.ts_ns.max()))
        self.counts[ACCEPTED] += len(good)
        return good, ([] if v.all_ok else v.dead_letters(batch, first_row, f"{tf.value} candle"))

    @staticmethod
    def _reject_inconsistent(v: Verdicts, b: CandleBatch) -> None:
        top = np.maximum(b.open, b.close)
        bottom = np.minimum(b.open, b.close)

        def describe(i: int) -> str:
            if b.high[i] < top[i]:
                return f"high {b.high[i]} < max(open, close) {top[i]}"
            return f"low {b.low[i]} > min(open, close) {bottom[i]}"

        v.reject((b.high < top) | (b.low > bottom), Reason.INCONSISTENT_OHLC, describe)

    @staticmethod
    def _reject_unordered(v: Verdicts, ts: np.ndarray, state: _TimeframeState) -> None:
        """Open time must exceed every earlier accepted one (rejected rows never raise it)."""
        running = np.maximum.accumulate(np.where(v.ok, ts, NO_REFERENCE)) if ts.size else ts
        before = np.maximum(np.concatenate(([NO_REFERENCE], running[:-1])), state.last_open_ns)
        before = before[: ts.size]

        def describe(i: int) -> str:
            latest = ns_to_datetime(int(before[i])).isoformat()
            return f"open time {ns_to_datetime(int(ts[i])).isoformat()} is not after {latest}"

        v.reject(ts == before, Reason.DUPLICATE_OPEN_TIME, describe)
        v.reject(ts < before, Reason.NON_INCREASING_OPEN_TIME, describe)
