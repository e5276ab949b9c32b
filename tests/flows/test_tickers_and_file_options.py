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
