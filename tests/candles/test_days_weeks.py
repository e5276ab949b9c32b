"""Daily and weekly candles under each market's convention, equal to polars; TA-Lib on them.

Crypto days start at UTC midnight; FX days at the 17:00 New York close; a stock's day is its
exchange session (pre- and post-market bars excluded); weeks start on Monday. The FX and stock
series are constructed (no such data ships with the repository): a seeded random walk on the
minutes the market is open, with minutes missing at random and, for the stock, pre-market bars.
"""

from __future__ import annotations

from pathlib import Path

import exchange_calendars
import numpy as np
import polars as pl
import pytest
import talib

from flows.cli import main as cli_main
from operators.candles import MultiTimeframeCandles, infer_timeframe
from operators.candles.calendars import calendar_for
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import NS_PER_MINUTE, Timeframe
from tests.candles.test_multi import run

DATA = Path(__file__).resolve().parents[2] / "connectors" / "data"
M = NS_PER_MINUTE
OHLCV = ("open", "high", "low", "close", "volume")


def candles_of(symbol: str, frame: pl.DataFrame) -> CandleBatch:
    return CandleBatch.from_columns(
        symbol, Timeframe.M1, frame["ts"].dt.epoch("ns"), *(frame[c] for c in OHLCV)
    )


def aggregate(groups) -> pl.DataFrame:
    return groups.agg(
        pl.col("open").first(),
        pl.col("high").max(),
        pl.col("low").min(),
        pl.col("close").last(),
        pl.col("volume").sum(),
    )


def assert_same(got: CandleBatch, ts: np.ndarray, expected: pl.DataFrame) -> None:
    """Prices exactly; volume to 1e-12 (polars sums in another order than pandas' reduceat)."""
    np.testing.assert_array_equal(got.ts_ns, ts)
    for column in OHLCV[:4]:
        np.testing.assert_array_equal(getattr(got, column), expected[column].to_numpy(), column)
    np.testing.assert_allclose(got.volume, expected["volume"].to_numpy(), rtol=1e-12)


def random_walk_bars(minutes: np.ndarray, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    kept = np.sort(minutes[rng.random(len(minutes)) > 0.05])  # ~5 % of minutes missing
    close = 1.1 * np.exp(np.cumsum(rng.normal(0, 2e-4, len(kept))))
    open_ = np.concatenate(([1.1], close[:-1]))
    spread = np.abs(rng.normal(0, 1e-4, len(kept)))
    return pl.DataFrame(
        {
            "ts": pl.from_epoch(pl.Series(kept), time_unit="ns").dt.replace_time_zone("UTC"),
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.integers(1, 100, len(kept)).astype(float),
        }
    )


def test_crypto_days_and_weeks_equal_polars_on_the_btc_month() -> None:
    frame = pl.read_parquet(DATA / "btc-perp_1m_2022-01.parquet").sort("ts")
    core = MultiTimeframeCandles.from_candles(
        "BTC-PERP", Timeframe.M1, [Timeframe.D1, Timeframe.W1]
    )
    bars = candles_of("BTC-PERP", frame)
    got = run(core, [bars.take(slice(i, i + 5_000)) for i in range(0, len(bars), 5_000)])
    days = aggregate(frame.group_by_dynamic("ts", every="1d"))
    weeks = aggregate(frame.group_by_dynamic("ts", every="1w", start_by="monday"))
    assert_same(got[Timeframe.D1], days["ts"].dt.epoch("ns").to_numpy(), days)
    assert_same(got[Timeframe.W1], weeks["ts"].dt.epoch("ns").to_numpy(), weeks)
    assert weeks["ts"].dt.weekday().to_list() == [1] * len(weeks)  # Mondays


def test_fx_days_close_at_17_new_york_and_weeks_open_on_sunday_evening() -> None:
    fx = calendar_for("24/5")
    grid = np.arange(
        np.datetime64("2024-03-01T00:00", "ns").astype(np.int64),  # spans the March DST change
        np.datetime64("2024-03-23T00:00", "ns").astype(np.int64),
        M,
    )
    frame = random_walk_bars(grid[fx.is_open(grid)], seed=11)
    core = MultiTimeframeCandles.from_candles(
        "EUR/USD", Timeframe.M1, [Timeframe.H4, Timeframe.D1, Timeframe.W1], fx
    )
    bars = candles_of("EUR/USD", frame)
    got = run(core, [bars.take(slice(i, i + 3_000)) for i in range(0, len(bars), 3_000)])
    # the convention written independently: New York wall time shifted by +7 h
    local = frame.with_columns(
        (
            pl.col("ts").dt.convert_time_zone("America/New_York").dt.replace_time_zone(None)
            + pl.duration(hours=7)
        ).alias("local")
    )
    for timeframe, groups in (
        (Timeframe.D1, local.group_by_dynamic("local", every="1d")),
        (Timeframe.W1, local.group_by_dynamic("local", every="1w", start_by="monday")),
    ):
        expected = aggregate(groups)
        opens = expected.select(
            (pl.col("local") - pl.duration(hours=7))
            .dt.replace_time_zone("America/New_York")
            .dt.convert_time_zone("UTC")
        )["local"]
        assert_same(got[timeframe], opens.dt.epoch("ns").to_numpy(), expected)
        hours = opens.dt.convert_time_zone("America/New_York").dt.hour().unique().to_list()
        assert hours == [17]
    four = aggregate(frame.group_by_dynamic("ts", every="4h"))  # intraday: UTC epoch
    assert_same(got[Timeframe.H4], four["ts"].dt.epoch("ns").to_numpy(), four)


def test_stock_days_are_sessions_and_never_include_closed_hours() -> None:
    xnys = exchange_calendars.get_calendar("XNYS", start="2024-06-01")
    sessions = xnys.sessions_in_range("2024-06-24", "2024-07-12")  # July 3 early close, July 4
    session_minutes = xnys.sessions_minutes(sessions[0], sessions[-1]).as_unit("ns").asi8
    premarket = np.concatenate(
        [np.arange(o - 90 * M, o, M) for o in xnys.opens[sessions].dt.as_unit("ns").astype("int64")]
    )
    frame = random_walk_bars(np.concatenate([premarket, session_minutes]), seed=5)
    core = MultiTimeframeCandles.from_candles(
        "NVDA", Timeframe.M1, [Timeframe.H1, Timeframe.D1, Timeframe.W1], calendar_for("XNYS")
    )
    got = run(core, [candles_of("NVDA", frame)])
    stamps = frame["ts"].to_pandas()
    is_open = np.array([xnys.is_open_on_minute(t, ignore_breaks=True) for t in stamps])
    regular = frame.filter(pl.Series(is_open))
    session = xnys.minutes_to_sessions(regular["ts"].to_pandas())
    regular = regular.with_columns(
        pl.Series("session", session.tz_localize(None)).cast(pl.Datetime("ns"))
    )
    days = aggregate(regular.group_by("session", maintain_order=True))
    opens = xnys.opens[days["session"].to_pandas()].dt.as_unit("ns").astype("int64").to_numpy()
    assert_same(got[Timeframe.D1], opens, days)
    assert len(days) == len(sessions)  # July 4 has no candle, pre-market bars are in none
    weekly = regular.with_columns(pl.col("session").dt.truncate("1w").alias("week"))
    weeks = aggregate(weekly.group_by("week", maintain_order=True))
    first = weekly.group_by("week", maintain_order=True).agg(pl.col("session").first())
    week_opens = xnys.opens[first["session"].to_pandas()].dt.as_unit("ns").astype("int64")
    assert_same(got[Timeframe.W1], week_opens.to_numpy(), weeks)
    hours = aggregate(regular.group_by_dynamic("ts", every="1h"))
    assert_same(got[Timeframe.H1], hours["ts"].dt.epoch("ns").to_numpy(), hours)


def test_daily_stock_bars_infer_1d_and_roll_up_into_monday_weeks() -> None:
    xnys = exchange_calendars.get_calendar("XNYS", start="1999-01-01")
    sessions = xnys.sessions_in_range("1999-11-01", "1999-12-31")
    ts = sessions.as_unit("ns").asi8  # a daily file stamps each bar with its session's date
    assert infer_timeframe(ts) is Timeframe.D1
    frame = random_walk_bars(ts, seed=3)
    days = CandleBatch.from_columns("NVDA", Timeframe.D1, frame["ts"].dt.epoch("ns"),
                                    *(frame[c] for c in OHLCV))  # fmt: skip
    got = run(MultiTimeframeCandles.from_candles("NVDA", Timeframe.D1, None, calendar_for("XNYS")),
              [days])  # fmt: skip
    assert core_timeframes(got) == [Timeframe.D1, Timeframe.W1]
    weeks = aggregate(frame.group_by_dynamic("ts", every="1w", start_by="monday"))
    weekly_first = frame.group_by_dynamic("ts", every="1w", start_by="monday").agg(
        pl.col("ts").first().alias("first")
    )
    opens = xnys.opens[weekly_first["first"].dt.replace_time_zone(None).to_pandas()]
    assert_same(got[Timeframe.W1], opens.dt.as_unit("ns").astype("int64").to_numpy(), weeks)


def core_timeframes(got: dict[Timeframe, CandleBatch]) -> list[Timeframe]:
    return [t for t, batch in got.items() if len(batch)]


def test_stock_trades_leave_the_night_unfilled() -> None:
    close = np.datetime64("2024-07-02T19:59:30", "ns").astype(np.int64)
    reopen = np.datetime64("2024-07-03T13:30:10", "ns").astype(np.int64)
    trades = TradeBatch.from_columns("NVDA", [close, reopen], [120.0, 121.0], [1.0, 1.0])
    core = MultiTimeframeCandles.from_trades("NVDA", [Timeframe.D1], calendar=calendar_for("XNYS"))
    got = run(core, [trades])
    assert len(got[Timeframe.M1]) == 2  # no zero-volume minutes for the night
    assert got[Timeframe.D1].open.tolist() == [120.0, 121.0]


@pytest.mark.parametrize("per_batch", [1, 2, 100])
def test_stock_days_leave_out_trades_at_the_close_and_at_midnight_whatever_the_batches(
    per_batch: int,
) -> None:
    """Post-market trades in the minute opening at the close (20:00 UTC) and at 00:00 UTC (a
    session date's midnight, how daily files stamp a day) are in no day: they once joined the
    day when they came in the same batch as its last regular minute, and made a second candle
    of that day when they came after it."""
    at = [
        "2024-07-02T13:30:05", "2024-07-02T15:00:00", "2024-07-02T19:59:30",  # the session
        "2024-07-02T20:00:10", "2024-07-02T23:00:00", "2024-07-03T00:00:20",  # after it
        "2024-07-03T13:30:10", "2024-07-03T16:59:00", "2024-07-03T17:00:30",  # early close
    ]  # fmt: skip
    ts = np.array(at, dtype="datetime64[ns]").astype(np.int64)
    prices = [100.0, 101.0, 102.0, 150.0, 160.0, 170.0, 103.0, 104.0, 180.0]
    core = MultiTimeframeCandles.from_trades("NVDA", [Timeframe.D1], calendar=calendar_for("XNYS"))
    batches = [
        TradeBatch.from_columns("NVDA", ts[i : i + per_batch], prices[i : i + per_batch],
                                [1.0] * len(prices[i : i + per_batch]))
        for i in range(0, len(ts), per_batch)
    ]  # fmt: skip
    days = run(core, batches)[Timeframe.D1]
    assert days.open.tolist() == [100.0, 103.0]
    assert days.high.tolist() == [102.0, 104.0]
    assert days.close.tolist() == [102.0, 104.0]
    assert days.trades.tolist() == [3, 2]


def test_daily_candles_through_quorum_features_equal_talib(tmp_path: Path) -> None:
    config = tmp_path / "days.yaml"
    config.write_text("candles:\n  timeframes: [1m, 1d, 1w]\n")
    out = tmp_path / "features.parquet"
    bars = str(DATA / "btc-perp_1m_2022-01.parquet")
    code = cli_main(["features", bars, "--out", str(out), "--config", str(config), "--quiet"])
    assert code == 0
    frame = pl.read_parquet(out)
    assert sorted(frame["timeframe"].unique().to_list()) == ["1d", "1m", "1w"]
    daily = frame.filter(pl.col("timeframe") == "1d").sort("ts")
    source = pl.read_parquet(bars).sort("ts")
    expected = aggregate(source.group_by_dynamic("ts", every="1d"))
    assert daily["close"].to_list() == expected["close"].to_list()
    close, high, low = (expected[c].to_numpy() for c in ("close", "high", "low"))
    for name, reference in (
        ("rsi_14", talib.RSI(close, 14)),
        ("ema_12", talib.EMA(close, 12)),
        ("atr_14", talib.ATR(high, low, close, 14)),
        ("bb_upper", talib.BBANDS(close, 20, 2.0, 2.0, 0)[0]),
    ):
        ours = daily[name].to_numpy()
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference), err_msg=name)
        ok = ~np.isnan(reference)
        np.testing.assert_allclose(ours[ok], reference[ok], rtol=1e-9, err_msg=name)


@pytest.mark.parametrize("timeframe", [Timeframe.D1, Timeframe.W1])
def test_days_and_weeks_parse(timeframe: Timeframe) -> None:
    assert Timeframe.parse(timeframe.value) is timeframe and not timeframe.intraday
