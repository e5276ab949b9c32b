"""Fault counts of candle series in polars (no great-expectations here: fast)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.candles.timeframes import WEEK_ORIGIN_NS
from operators.quality.profile import SeriesProfile, prepare_series, profile_series
from schemas.common import Timeframe, datetime_to_ns


def _profile(frame: pl.DataFrame, timeframe: Timeframe = Timeframe.M1) -> SeriesProfile:
    return profile_series(prepare_series(frame.drop("symbol", "timeframe"), timeframe), timeframe)


def _faults(p: SeriesProfile) -> tuple[int, ...]:
    return (
        p.duplicates,
        p.misaligned,
        p.gaps,
        p.missing_bars,
        p.largest_gap_bars,
        p.invariant_violations,
        p.null_values,
    )


CLEAN = (0, 0, 0, 0, 0, 0, 0)


def _set(frame: pl.DataFrame, row: int, **values: object) -> pl.DataFrame:
    index = pl.int_range(pl.len())
    return frame.with_columns(
        pl.when(index == row).then(pl.lit(v)).otherwise(pl.col(k)).alias(k)
        for k, v in values.items()
    )


def test_real_data_is_clean(btc_1m: pl.DataFrame, btc_5m: pl.DataFrame) -> None:
    p = _profile(btc_1m)
    assert _faults(p) == CLEAN
    assert (p.rows, p.first_ts, p.last_ts) == (3000, btc_1m["ts"][0], btc_1m["ts"][-1])
    assert p.largest_gap_start is None
    assert _faults(_profile(btc_5m, Timeframe.M5)) == CLEAN


def test_duplicate_row(btc_1m: pl.DataFrame) -> None:
    frame = pl.concat([btc_1m, btc_1m[100]])
    assert _faults(_profile(frame)) == (1, 0, 0, 0, 0, 0, 0)


def test_gaps_are_counted_in_missing_bars(btc_1m: pl.DataFrame) -> None:
    index = pl.int_range(pl.len())
    frame = btc_1m.filter(~((index == 10) | index.is_between(20, 24) | index.is_between(40, 41)))
    p = _profile(frame)
    assert _faults(p) == (0, 0, 3, 8, 5, 0, 0)
    assert p.largest_gap_start == btc_1m["ts"][20]


def test_misaligned_bar_is_not_a_gap(btc_1m: pl.DataFrame) -> None:
    late = btc_1m["ts"][700] + timedelta(seconds=30)
    assert _faults(_profile(_set(btc_1m, 700, ts=late))) == (0, 1, 0, 0, 0, 0, 0)


def test_a_misaligned_bar_leaves_its_own_slot_empty(btc_1m: pl.DataFrame) -> None:
    """A bar stamped 90 s late lands in the next slot, which is then doubled, its own empty."""
    late = btc_1m["ts"][700] + timedelta(seconds=90)
    p = _profile(_set(btc_1m, 700, ts=late))
    assert _faults(p) == (0, 1, 1, 1, 1, 0, 0)
    assert p.largest_gap_start == btc_1m["ts"][700]


@pytest.mark.parametrize(
    "fault",
    [
        {"high": 1.0},  # high below open and close
        {"low": 1e9},  # low above open and close
        {"volume": -0.5},
        {"open": 0.0, "low": 0.0},
        {"close": -1.0, "low": -1.0},
    ],
    ids=["high", "low", "volume", "zero_open", "negative_close"],
)
def test_invariant_violations(btc_1m: pl.DataFrame, fault: dict[str, float]) -> None:
    assert _faults(_profile(_set(btc_1m, 900, **fault))) == (0, 0, 0, 0, 0, 1, 0)


def test_nan_and_null_are_missing_values(btc_1m: pl.DataFrame) -> None:
    frame = _set(_set(btc_1m, 5, close=float("nan")), 6, volume=None)
    assert _faults(_profile(frame)) == (0, 0, 0, 0, 0, 0, 2)


def test_order_and_time_type_do_not_matter(btc_1m: pl.DataFrame) -> None:
    index = pl.int_range(pl.len())
    frame = pl.concat([btc_1m, btc_1m[7]]).filter(~index.is_between(50, 52))
    expected = _profile(frame)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=7)
    as_ints = shuffled.with_columns(pl.col("ts").dt.epoch("ns"))
    assert _profile(shuffled) == expected == _profile(as_ints)
    assert _faults(expected) == (1, 0, 1, 3, 3, 0, 0)


def test_time_column_of_another_type_is_rejected(btc_1m: pl.DataFrame) -> None:
    frame = btc_1m.with_columns(pl.col("ts").cast(pl.String))
    with pytest.raises(ValueError, match="column 'ts' must be a datetime or int nanoseconds"):
        _profile(frame)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(3, 200),
    removed=st.sets(st.integers(0, 10_000), max_size=60),
    timeframe=st.sampled_from(list(Timeframe)),
)
def test_missing_bars_equal_removed_interior_bars(
    n: int, removed: set[int], timeframe: Timeframe
) -> None:
    interior = {i % (n - 2) + 1 for i in removed}  # never the first or last bar
    kept = [i for i in range(n) if i not in interior]
    runs = [i for i in sorted(interior) if i - 1 not in interior]
    longest = max((_run_length(interior, start) for start in runs), default=0)
    origin = WEEK_ORIGIN_NS if timeframe is Timeframe.W1 else 0  # weeks start on Monday
    frame = pl.DataFrame(
        {"ts": [origin + (1_000 + i) * timeframe.ns for i in kept], "open": 1.0, "high": 1.0}
    ).with_columns(low=1.0, close=1.0, volume=0.0)
    p = profile_series(prepare_series(frame, timeframe), timeframe)
    assert (p.missing_bars, p.gaps, p.largest_gap_bars) == (len(interior), len(runs), longest)
    assert p.duplicates == p.misaligned == p.invariant_violations == 0
    if runs:
        assert p.largest_gap_start is not None
        start = next(s for s in runs if _run_length(interior, s) == longest)
        assert datetime_to_ns(p.largest_gap_start) == origin + (1_000 + start) * timeframe.ns


def _run_length(indices: set[int], start: int) -> int:
    length = 0
    while start + length in indices:
        length += 1
    return length
