"""`quorum data check` on days and weeks of a market calendar, stamped where the builder does.

The candle builder stamps a stock's day at its opening bell and a week at its first session's
open (13:30 or 14:30 UTC for NYSE, with daylight saving), an FX day at the 17:00 New York close;
a daily file stamps the session date at midnight UTC. All of these are aligned; a bar an hour off
either convention is not.
"""

from __future__ import annotations

import exchange_calendars
import numpy as np
import pandas as pd
import polars as pl
import pytest

from operators.candles.calendars import calendar_for
from operators.quality.profile import prepare_series, profile_series
from schemas.common import NS_PER_SECOND, Timeframe

HOUR = 3600 * NS_PER_SECOND


def nyse_sessions() -> tuple[np.ndarray, np.ndarray]:
    """Opens and session dates (midnight UTC) of the NYSE, 2004-08-16 → 2004-12-31."""
    xnys = exchange_calendars.get_calendar("XNYS", start="2004-01-01")
    schedule = xnys.schedule.loc["2004-08-16":"2004-12-31"]
    opens = pd.DatetimeIndex(schedule["open"]).as_unit("ns").asi8
    return opens, pd.DatetimeIndex(schedule.index).as_unit("ns").asi8


def candles(ts: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {"ts": ts, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 1.0}
    )


def profile(ts: np.ndarray, timeframe: Timeframe, calendar: str):
    prepared = prepare_series(candles(ts), timeframe, calendar_for(calendar))
    return profile_series(prepared, timeframe)


def first_of_each_week(opens: np.ndarray) -> np.ndarray:
    week = (opens - np.datetime64("1970-01-05", "ns").astype(np.int64)) // (7 * 24 * HOUR)
    return opens[np.flatnonzero(np.diff(week, prepend=week[0] - 1))]


@pytest.mark.parametrize("stamp", ["opening bell", "session date"])
def test_nyse_days_are_aligned_at_the_opening_bell_or_the_session_date(stamp: str) -> None:
    opens, dates = nyse_sessions()
    ts = opens if stamp == "opening bell" else dates
    result = profile(ts, Timeframe.D1, "XNYS")
    assert (result.misaligned, result.gaps) == (0, 0)
    shifted = ts.copy()
    shifted[5] += HOUR
    assert profile(shifted, Timeframe.D1, "XNYS").misaligned == 1


def test_nyse_weeks_are_aligned_at_their_first_sessions_open() -> None:
    opens, _ = nyse_sessions()
    weeks = first_of_each_week(opens)
    assert {int(h) for h in (weeks // HOUR) % 24} == {13, 14}  # daylight saving: both
    result = profile(weeks, Timeframe.W1, "XNYS")
    assert (result.rows, result.misaligned, result.gaps) == (len(weeks), 0, 0)
    assert profile(weeks, Timeframe.W1, "24/7").misaligned == len(weeks)  # the UTC grid alone
    shifted = weeks.copy()
    shifted[3] += HOUR
    assert profile(shifted, Timeframe.W1, "XNYS").misaligned == 1


def test_fx_days_open_at_the_new_york_close() -> None:
    fx = calendar_for("24/5")
    hours = np.datetime64("2024-01-01T00:00", "ns").astype(np.int64) + np.arange(24 * 28) * HOUR
    starts = np.unique(fx.day_start(hours[fx.is_open(hours)]))
    assert {int(h) for h in (starts // HOUR) % 24} == {22}  # 17:00 New York in winter
    assert profile(starts, Timeframe.D1, "24/5").misaligned == 0
    assert profile(starts + HOUR, Timeframe.D1, "24/5").misaligned == len(starts)
