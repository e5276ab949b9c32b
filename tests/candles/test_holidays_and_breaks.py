"""FX holidays (25 Dec, 1 Jan) and exchange lunch breaks are closed time: no jump, no gap."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from operators.candles.calendars import calendar_for
from operators.quality.profile import prepare_series, profile_series
from operators.validation import CandleValidator, ValidationConfig
from schemas.common import Timeframe
from tests.candles.test_calendars import bars, frame_of, minutes, utc


@pytest.mark.parametrize(
    ("instant", "open_"),
    [
        ("2024-12-24T21:59", True),  # 16:59 New York on Christmas Eve
        ("2024-12-24T22:00", False),  # the FX day ending 17:00 on the 25th is closed
        ("2024-12-25T21:59", False),
        ("2024-12-25T22:00", True),
        ("2025-01-01T12:00", False),  # New Year's Day
        ("2025-01-01T22:00", True),
        ("2022-12-25T12:00", False),  # a Sunday: closed as every weekend
    ],
)
def test_fx_is_closed_on_christmas_and_new_year(instant: str, open_: bool) -> None:
    assert calendar_for("24/5").is_open(np.array([utc(instant)])).tolist() == [open_]


def christmas() -> np.ndarray:
    """EUR/USD minutes: two hours before the Christmas close, two after the reopening."""
    return np.concatenate([minutes("2024-12-24T20:00", 120), minutes("2024-12-25T22:00", 120)])


def tokyo_day() -> np.ndarray:
    """XTKS minutes of 2024-01-05: morning 09:00-11:30 and afternoon 12:30-15:00 Tokyo time
    (00:00-02:30 and 03:30-06:00 UTC), around the lunch break."""
    return np.concatenate([minutes("2024-01-05T00:00", 150), minutes("2024-01-05T03:30", 150)])


@pytest.mark.parametrize(
    ("calendar", "ts"), [("24/5", christmas()), ("XTKS", tokyo_day())], ids=["fx", "tokyo"]
)
def test_a_holiday_or_lunch_is_no_time_jump_and_no_gap(calendar: str, ts: np.ndarray) -> None:
    market = calendar_for(calendar)
    assert market.is_open(ts).all()
    strict = ValidationConfig(max_time_jump=timedelta(minutes=5))
    good, dead = CandleValidator("X", strict, market).validate(bars("X", ts))
    assert dead == [] and len(good) == len(ts)
    profile = profile_series(prepare_series(frame_of(ts), Timeframe.M1, market), Timeframe.M1)
    assert profile.gaps == 0
    holed = np.delete(ts, np.arange(130, 135))  # five minutes lost while open: one gap
    profile = profile_series(prepare_series(frame_of(holed), Timeframe.M1, market), Timeframe.M1)
    assert (profile.gaps, profile.missing_bars) == (1, 5)


def test_lunch_is_closed_on_the_exchange_calendar() -> None:
    tokyo = calendar_for("XTKS")
    lunch = np.array([utc("2024-01-05T02:30"), utc("2024-01-05T03:29")])
    assert not tokyo.is_open(lunch).any()
    assert (
        tokyo.days_between(np.array([utc("2024-01-05T00:00")]), np.array([utc("2024-01-06")]))[0]
        == 1
    )  # still one trading day
