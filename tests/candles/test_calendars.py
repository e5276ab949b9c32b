"""Market calendars and instruments: open hours, the open-time clock, gaps that are no gaps."""

from __future__ import annotations

import pickle
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from operators.candles.calendars import calendar_for
from operators.candles.instruments import InstrumentsConfig
from operators.quality.profile import prepare_series, profile_series
from operators.validation import CandleValidator, ValidationConfig
from schemas.batches import CandleBatch
from schemas.common import NS_PER_MINUTE, Timeframe

M = NS_PER_MINUTE


def utc(text: str) -> int:
    return int(np.datetime64(text, "ns").astype(np.int64))


def minutes(start: str, count: int) -> np.ndarray:
    return utc(start) + np.arange(count, dtype=np.int64) * M


def bars(symbol: str, ts: np.ndarray, timeframe: Timeframe = Timeframe.M1) -> CandleBatch:
    price = 1.1 + 0.0001 * np.sin(np.arange(len(ts)))
    return CandleBatch.from_columns(
        symbol, timeframe, ts, price, price + 0.0002, price - 0.0002, price, np.ones(len(ts))
    )


def fx_weekend() -> np.ndarray:
    """EUR/USD minutes: the last two hours before a Friday close, 150 after the Sunday open."""
    return np.concatenate([minutes("2024-01-05T20:00", 120), minutes("2024-01-07T22:00", 150)])


@pytest.mark.parametrize(
    ("instant", "open_"),
    [
        ("2024-01-05T21:59", True),  # Friday 16:59 New York (EST)
        ("2024-01-05T22:00", False),  # Friday 17:00 New York: the week's close
        ("2024-01-07T21:59", False),
        ("2024-01-07T22:00", True),  # Sunday 17:00 New York: the week's open
        ("2024-07-05T20:59", True),  # summer (EDT): 17:00 New York is 21:00 UTC
        ("2024-07-05T21:00", False),
        ("2024-07-07T21:00", True),
        ("2024-01-10T03:00", True),  # mid-week night
    ],
)
def test_fx_is_open_from_sunday_to_friday_17_00_new_york(instant: str, open_: bool) -> None:
    assert calendar_for("24/5").is_open(np.array([utc(instant)])).tolist() == [open_]


@pytest.mark.parametrize("name", ["24/5", "XNYS", "CMES", "XEUR"])
def test_open_clock_never_runs_backwards_and_stands_still_when_closed(name: str) -> None:
    calendar = calendar_for(name)
    rng = np.random.default_rng(7)
    ts = np.sort(rng.integers(utc("2006-01-02T00:00"), utc("2025-12-30T00:00"), 200_000))
    clock = calendar.open_clock(ts)
    assert np.all(np.diff(clock) >= 0)
    closed = ~calendar.is_open(ts)
    both_closed = closed[1:] & closed[:-1]
    assert both_closed.any() and (~closed).any()
    open_minute = calendar.open_clock(ts[~closed] + M) - calendar.open_clock(ts[~closed])
    assert np.all(open_minute <= M) and np.mean(open_minute == M) > 0.99
    assert pickle.loads(pickle.dumps(calendar)) is calendar  # pickled by name


def test_a_weekend_is_no_time_jump_for_fx_but_was_one_on_a_24_7_clock() -> None:
    ts = fx_weekend()
    strict = ValidationConfig(max_time_jump=timedelta(hours=1))
    fx = CandleValidator("EUR/USD", strict, calendar_for("24/5"))
    good, dead = fx.validate(bars("EUR/USD", ts))
    assert dead == [] and len(good) == len(ts)
    crypto_clock = CandleValidator("EUR/USD")  # the finding: 100 bars dead-lettered
    good, dead = crypto_clock.validate(bars("EUR/USD", ts))
    assert len(dead) == 100 and {d.reason for d in dead} == {"timestamp_out_of_range"}


def test_stock_nights_holidays_and_early_closes_are_no_jumps_on_the_exchange_calendar() -> None:
    nyse = calendar_for("XNYS")
    sessions = [("2024-07-02T13:30", 390), ("2024-07-03T13:30", 210), ("2024-07-05T13:30", 390)]
    ts = np.concatenate([minutes(start, n) for start, n in sessions])
    assert nyse.is_open(ts).all()
    assert not nyse.is_open(np.array([utc("2024-07-03T17:00"), utc("2024-07-04T15:00")])).any()
    strict = ValidationConfig(max_time_jump=timedelta(minutes=5))
    good, dead = CandleValidator("NVDA", strict, nyse).validate(bars("NVDA", ts))
    assert dead == [] and len(good) == len(ts)


def test_old_data_is_plausible_without_a_minimum_year() -> None:
    """The issue's 2006 index-futures bars: every one was dead-lettered by a 2009 minimum."""
    ts = np.concatenate([minutes("2006-03-01T07:00", 840), minutes("2006-03-02T07:00", 840)])
    good, dead = CandleValidator("FDAX", None, calendar_for("XEUR")).validate(bars("FDAX", ts))
    assert dead == [] and len(good) == len(ts)


def frame_of(ts: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame({"ts": ts, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1})


def test_data_check_counts_only_the_bars_missing_while_the_market_was_open() -> None:
    ts = fx_weekend()
    holed = np.delete(ts, np.arange(200, 210))  # ten minutes lost on Sunday evening
    fx = calendar_for("24/5")
    profile = profile_series(prepare_series(frame_of(holed), Timeframe.M1, fx), Timeframe.M1)
    assert (profile.gaps, profile.missing_bars, profile.largest_gap_bars) == (1, 10, 10)
    on_24_7 = profile_series(prepare_series(frame_of(holed), Timeframe.M1), Timeframe.M1)
    assert on_24_7.gaps == 2 and on_24_7.missing_bars == 10 + 2 * 24 * 60


def test_instruments_give_calendars_bounds_and_defaults(tmp_path) -> None:
    file = tmp_path / "instruments.yaml"
    file.write_text(
        "EUR/USD: {asset_class: fx, venue: OANDA, tick_size: '0.00001', currency: USD}\n"
        "ES: {asset_class: future, venue: CME, min_timestamp: '2000-01-01T00:00:00Z'}\n"
    )
    config = InstrumentsConfig(file=file, symbols={"NVDA": {"asset_class": "stock"}})
    assert config.instrument_for("EUR/USD").calendar == "24/5"
    assert str(config.instrument_for("EUR/USD").tick_size) == "0.00001"
    assert config.instrument_for("ES").calendar == "CMES"
    assert config.instrument_for("ES").bounds()["min_timestamp"].year == 2000
    assert config.instrument_for("NVDA").calendar == "XNYS"
    assert config.instrument_for("ETH/BTC").market_calendar.always_open
    with pytest.raises(ValueError, match=r"instruments file .* does not exist"):
        InstrumentsConfig(file=tmp_path / "missing.yaml")
