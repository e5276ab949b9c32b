"""Plain tickers as symbols; --symbol and --timeframe on the commands that read files.

The stock file is constructed (no stock data ships with the repository): a seeded random walk
on the NYSE sessions of 1999-11/12, stamped at each session's date as daily files are.
"""

from __future__ import annotations

from pathlib import Path

import exchange_calendars
import numpy as np
import polars as pl
import pytest

from flows.cli import main as cli_main


def nvda_daily(path: Path, sessions: int | None = None) -> Path:
    xnys = exchange_calendars.get_calendar("XNYS", start="1999-01-01")
    days = xnys.sessions_in_range("1999-11-01", "1999-12-31")[:sessions]
    rng = np.random.default_rng(1)
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, len(days))))
    open_ = np.concatenate(([20.0], close[:-1]))
    pl.DataFrame(
        {
            "date": [d.strftime("%Y-%m-%d") for d in days],
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "volume": rng.integers(1_000, 9_000, len(days)).astype(float),
        }
    ).write_csv(path)
    return path


def features(tmp_path: Path, *args: str) -> int:
    return cli_main(["features", *args, "--out", str(tmp_path / "out.parquet"), "--quiet"])


def test_a_file_that_cannot_tell_its_symbol_names_the_option(tmp_path: Path, capsys) -> None:
    data = nvda_daily(tmp_path / "nvda_daily_1999.csv")
    assert features(tmp_path, str(data)) == 2
    assert "pass it with --symbol, e.g. --symbol NVDA" in capsys.readouterr().err


def test_a_plain_ticker_with_symbol_gives_daily_and_weekly_candles(tmp_path: Path) -> None:
    data = nvda_daily(tmp_path / "nvda_daily_1999.csv")
    config = tmp_path / "stocks.yaml"
    config.write_text("instruments:\n  symbols:\n    NVDA: {asset_class: stock, venue: NASDAQ}\n")
    assert features(tmp_path, str(data), "--symbol", "NVDA", "--config", str(config)) == 0
    frame = pl.read_parquet(tmp_path / "out.parquet")
    assert frame["symbol"].unique().to_list() == ["NVDA"]
    counts = dict(frame.group_by("timeframe").len().iter_rows())
    assert counts == {"1d": 43, "1w": 9}
    weeks = frame.filter(pl.col("timeframe") == "1w").sort("ts")
    # each week is stamped at its first session's open: 14:30 UTC, on a Monday unless a holiday
    assert set(weeks["ts"].dt.hour().to_list()) == {14}
    assert weeks["ts"].dt.weekday().to_list()[:3] == [1, 1, 1]


def test_a_configured_ticker_is_read_from_the_file_name(tmp_path: Path) -> None:
    data = nvda_daily(tmp_path / "nvda_daily_1999.csv")
    config = tmp_path / "stocks.yaml"
    config.write_text("instruments:\n  symbols:\n    NVDA: {asset_class: stock}\n")
    assert features(tmp_path, str(data), "--config", str(config)) == 0
    assert pl.read_parquet(tmp_path / "out.parquet")["symbol"].unique().to_list() == ["NVDA"]


def test_timeframe_option_when_the_spacing_cannot_tell(tmp_path: Path, capsys) -> None:
    data = nvda_daily(tmp_path / "nvda_one.csv", sessions=1)
    assert features(tmp_path, str(data), "--symbol", "NVDA") == 2
    assert "pass it with --timeframe" in capsys.readouterr().err
    assert features(tmp_path, str(data), "--symbol", "NVDA", "--timeframe", "1d") == 0
    assert pl.read_parquet(tmp_path / "out.parquet")["timeframe"].to_list() == ["1d", "1w"]


@pytest.mark.parametrize("command", ["run", "features", "evaluate"])
def test_every_file_command_takes_both_options(command: str, capsys) -> None:
    with pytest.raises(SystemExit):
        cli_main([command, "--help"])
    text = capsys.readouterr().out
    assert "--symbol" in text and "--timeframe" in text


def test_a_bad_timeframe_is_a_usage_error(tmp_path: Path, capsys) -> None:
    data = nvda_daily(tmp_path / "nvda_daily_1999.csv")
    assert features(tmp_path, str(data), "--symbol", "NVDA", "--timeframe", "2d") == 2
    assert "--timeframe: unknown timeframe '2d'" in capsys.readouterr().err


def split_file(path: Path) -> Path:
    """Four constructed sessions around a 2-for-1 split: the vendor's adj_close halves the past."""
    path.write_text(
        "date,open,high,low,close,adj_close,volume\n"
        "2024-06-06,99,101,98,100,50,10\n"
        "2024-06-07,100,104,99,102,51,12\n"
        "2024-06-10,51,52,50,51.5,51.5,30\n"
        "2024-06-11,51.5,53,51,52,52,28\n"
    )
    return path


def test_adjusted_prices_apply_the_adjusted_close(tmp_path: Path) -> None:
    data = split_file(tmp_path / "nvda_split.csv")
    config = tmp_path / "adjusted.yaml"
    config.write_text("candles:\n  adjust_prices: true\n")
    args = (str(data), "--symbol", "NVDA", "--config", str(config))
    assert features(tmp_path, *args) == 0
    days = pl.read_parquet(tmp_path / "out.parquet").filter(pl.col("timeframe") == "1d")
    assert days["close"].to_list() == [50.0, 51.0, 51.5, 52.0]
    assert days["open"].to_list() == [49.5, 50.0, 51.0, 51.5]
    assert days["volume"].to_list() == [10.0, 12.0, 30.0, 28.0]  # volume as traded
    assert features(tmp_path, str(data), "--symbol", "NVDA") == 0  # not asked: raw prices
    raw = pl.read_parquet(tmp_path / "out.parquet").filter(pl.col("timeframe") == "1d")
    assert raw["close"].to_list() == [100.0, 102.0, 51.5, 52.0]


def test_adjusting_without_the_column_names_it(tmp_path: Path, capsys) -> None:
    data = nvda_daily(tmp_path / "nvda_daily.csv")
    config = tmp_path / "adjusted.yaml"
    config.write_text("candles:\n  adjust_prices: true\n")
    assert features(tmp_path, str(data), "--symbol", "NVDA", "--config", str(config)) == 2
    assert "needs an adjusted-close column" in capsys.readouterr().err
