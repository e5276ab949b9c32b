"""Candle-series profiling in polars: derived columns for the expectations, and fault counts.

A *series* is the candles of one symbol and one timeframe. :func:`prepare_series` sorts it by
open time and adds the columns the great-expectations suite checks:

* ``max_oc`` / ``min_oc`` — ``max(open, close)`` and ``min(open, close)``, for the OHLC invariants;
* ``ts_offset_ns`` — ``ts mod timeframe``: 0 when the bar opens on a timeframe boundary (days
  and weeks of a market calendar: also 0 at the trading day's or week's open, where the candle
  builder stamps them — a NYSE week at its first session's opening bell);
* ``bar_step`` — how many bar slots separate a row from the previous distinct slot: 1 between
  consecutive bars, ``k + 1`` after ``k`` missing bars, null on the first row and on a row that
  repeats its predecessor's slot (a duplicate or a misaligned bar, counted separately).

Slots are ``ts // timeframe``, so a bar stamped 30 s late still occupies its own minute and only
the genuinely missing minutes count as gaps. With a market calendar
(:mod:`operators.candles.calendars`) only the bars missing while the market was *open* count:
a weekend between two FX bars or the night between two stock sessions is no gap, an hour
missing inside a session is. :func:`profile_series` turns the same columns into
counts for the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from operators.candles.calendars import MarketCalendar
from operators.candles.timeframes import WEEK_ORIGIN_NS
from schemas.common import Timeframe, ns_to_datetime

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
VALUE_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
REQUIRED_COLUMNS: tuple[str, ...] = ("symbol", "timeframe", "ts", *VALUE_COLUMNS)


def require_candle_columns(frame: pl.DataFrame) -> None:
    """Raise a ``ValueError`` naming any column a candle frame lacks.

    >>> require_candle_columns(pl.DataFrame({"symbol": ["A/B"], "ts": [0]}))
    Traceback (most recent call last):
    ...
    ValueError: candle frame lacks column(s) ['timeframe', 'open', 'high', 'low', 'close', 'volume']
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"candle frame lacks column(s) {missing}")


def _ts_ns(frame: pl.DataFrame) -> pl.Expr:
    dtype = frame.schema["ts"]
    if isinstance(dtype, pl.Datetime):
        return pl.col("ts").dt.epoch("ns")
    if dtype.is_integer():
        return pl.col("ts").cast(pl.Int64)
    raise ValueError(f"column 'ts' must be a datetime or int nanoseconds, got dtype {dtype}")


def prepare_series(
    frame: pl.DataFrame, timeframe: Timeframe, calendar: MarketCalendar | None = None
) -> pl.DataFrame:
    """One series sorted by time, ``ts`` as int ns, NaN as null, plus the derived columns.

    >>> minute = 60_000_000_000
    >>> frame = pl.DataFrame({"ts": [0, minute, 4 * minute, 4 * minute + 30_000_000_000],
    ...                       "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 1.0})
    >>> prepare_series(frame, Timeframe.M1).select("ts_offset_ns", "bar_step").rows()
    [(0, None), (0, 1), (0, 3), (30000000000, None)]
    """
    step = timeframe.ns
    prepared = frame.with_columns(
        _ts_ns(frame).alias("ts"),
        *(pl.col(c).cast(pl.Float64).fill_nan(None) for c in VALUE_COLUMNS),
    ).sort("ts", maintain_order=True, nulls_last=True)
    since_origin = pl.col("ts") - (WEEK_ORIGIN_NS if timeframe is Timeframe.W1 else 0)
    bar = since_origin.floordiv(step)
    bar_step = bar.diff()
    offset = since_origin % step
    if calendar is not None and not calendar.always_open and timeframe is not Timeframe.W1:
        missing = _missing_open_bars(prepared["ts"], timeframe, calendar)
        bar_step = pl.when(bar_step > 0).then(missing + 1)
    if calendar is not None and not calendar.always_open and not timeframe.intraday:
        offset = (
            pl.when(_at_calendar_open(prepared["ts"], timeframe, calendar))
            .then(0)
            .otherwise(offset)
        )
    return prepared.with_columns(
        pl.max_horizontal("open", "close").alias("max_oc"),
        pl.min_horizontal("open", "close").alias("min_oc"),
        offset.alias("ts_offset_ns"),
        pl.when(bar_step > 0).then(bar_step).otherwise(None).alias("bar_step"),
    )


def _at_calendar_open(ts: pl.Series, timeframe: Timeframe, calendar: MarketCalendar) -> pl.Series:
    """Rows stamped at the open of their trading day (``1d``) or week (``1w``) on ``calendar``."""
    times = ts.fill_null(0).to_numpy().astype(np.int64)
    starts = calendar.day_start(times) if timeframe is Timeframe.D1 else calendar.week_start(times)
    return pl.Series("at_open", (times == starts) & ts.is_not_null().to_numpy())


def _missing_open_bars(ts: pl.Series, timeframe: Timeframe, calendar: MarketCalendar) -> pl.Series:
    """Bars missing while the market was open between each row and the previous one (days:
    the trading days that opened in between)."""
    times = ts.to_numpy()
    known = ~np.isnan(times) if times.dtype.kind == "f" else np.ones(len(times), dtype=bool)
    values = np.where(known, times, 0).astype(np.int64)
    ends = np.concatenate(([0], values[:-1] + timeframe.ns))
    if timeframe is Timeframe.D1:
        missing = calendar.days_between(ends, values)
    else:
        missing = calendar.open_between(ends, values) // timeframe.ns
    missing[0] = 0
    return pl.Series("open_steps", missing, dtype=pl.Int64)


@dataclass(frozen=True, slots=True)
class SeriesProfile:
    """Fault counts of one prepared series (all zero for clean data)."""

    rows: int
    first_ts: datetime | None
    last_ts: datetime | None
    duplicates: int
    """Rows whose open time repeats an earlier row's."""
    misaligned: int
    """Rows whose open time is not on a timeframe boundary."""
    gaps: int
    """Holes between the first and last bar (runs of missing bars)."""
    missing_bars: int
    largest_gap_bars: int
    largest_gap_start: datetime | None
    """Open time of the first missing bar of the largest hole."""
    invariant_violations: int
    """Rows breaking high ≥ max(open, close), low ≤ min(open, close), prices > 0, volume ≥ 0."""
    null_values: int
    """Rows with a missing (null or NaN) time, price or volume."""


def profile_series(prepared: pl.DataFrame, timeframe: Timeframe) -> SeriesProfile:
    """Count the faults of a series returned by :func:`prepare_series`.

    >>> minute = 60_000_000_000
    >>> frame = pl.DataFrame({"ts": [0, minute, minute, 5 * minute],
    ...                       "open": 1.0, "high": [2.0, 2.0, 2.0, 0.9], "low": 0.5,
    ...                       "close": 1.5, "volume": [1.0, 1.0, 1.0, -2.0]})
    >>> p = profile_series(prepare_series(frame, Timeframe.M1), Timeframe.M1)
    >>> p.duplicates, p.gaps, p.missing_bars, p.largest_gap_bars, p.invariant_violations
    (1, 1, 3, 3, 1)
    >>> p.largest_gap_start.isoformat()
    '1970-01-01T00:02:00+00:00'
    """
    col = pl.col
    violation = (
        (col("high") < col("max_oc"))
        | (col("low") > col("min_oc"))
        | pl.any_horizontal(col(c) <= 0 for c in PRICE_COLUMNS)
        | (col("volume") < 0)
    )
    missing = col("bar_step") - 1
    origin = WEEK_ORIGIN_NS if timeframe is Timeframe.W1 else 0
    stats = prepared.select(
        pl.len().alias("rows"),
        col("ts").min().alias("first"),
        col("ts").max().alias("last"),
        (col("ts").drop_nulls().len() - col("ts").drop_nulls().n_unique()).alias("duplicates"),
        (col("ts_offset_ns") != 0).sum().alias("misaligned"),
        (col("bar_step") > 1).sum().alias("gaps"),
        missing.filter(missing > 0).sum().alias("missing_bars"),
        violation.fill_null(False).sum().alias("violations"),
        pl.any_horizontal(col(c).is_null() for c in ("ts", *VALUE_COLUMNS)).sum().alias("nulls"),
    ).row(0, named=True)
    largest = (
        prepared.filter(col("bar_step") > 1)
        .sort("bar_step", descending=True, maintain_order=True)
        .select(
            (col("ts") - origin).floordiv(timeframe.ns) * timeframe.ns
            + origin
            - missing * timeframe.ns,
            missing,
        )
        .head(1)
        .rows()
    )
    gap_start, gap_bars = largest[0] if largest else (None, 0)
    return SeriesProfile(
        rows=stats["rows"],
        first_ts=None if stats["first"] is None else ns_to_datetime(stats["first"]),
        last_ts=None if stats["last"] is None else ns_to_datetime(stats["last"]),
        duplicates=stats["duplicates"],
        misaligned=stats["misaligned"],
        gaps=stats["gaps"],
        missing_bars=stats["missing_bars"] or 0,
        largest_gap_bars=gap_bars,
        largest_gap_start=None if gap_start is None else ns_to_datetime(gap_start),
        invariant_violations=stats["violations"],
        null_values=stats["nulls"],
    )
