"""A corporate-actions file back-adjusts a stock's raw candles (hand-computed reference)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.flows.test_tickers_and_file_options import features, split_file


def actions_config(tmp_path: Path, extra: str = "") -> Path:
    actions = tmp_path / "actions.csv"
    actions.write_text(
        "date,symbol,action,value\n2024-06-10,NVDA,split,2\n2024-06-11,NVDA,dividend,0.515\n"
    )
    config = tmp_path / "actions.yaml"
    config.write_text(f"candles:\n  corporate_actions: {actions}\n{extra}")
    return config


def test_splits_and_dividends_back_adjust_the_raw_prices(tmp_path: Path) -> None:
    # 2-for-1 on 06-10 halves the two sessions before it and doubles their volume; the 0.515
    # dividend on 06-11 (prior raw close 51.5) scales every earlier session by 1 - 0.01 = 0.99
    data = split_file(tmp_path / "nvda_split.csv")
    args = (str(data), "--symbol", "NVDA", "--config", str(actions_config(tmp_path)))
    assert features(tmp_path, *args) == 0
    days = pl.read_parquet(tmp_path / "out.parquet").filter(pl.col("timeframe") == "1d")
    assert days["close"].to_list() == pytest.approx([49.5, 50.49, 50.985, 52.0])
    assert days["open"].to_list() == pytest.approx([49.005, 49.5, 50.49, 51.5])
    assert days["high"].to_list() == pytest.approx([49.995, 51.48, 51.48, 53.0])
    assert days["volume"].to_list() == pytest.approx([20.0, 24.0, 30.0, 28.0])


def test_actions_and_the_adjusted_close_together_are_refused(tmp_path: Path, capsys) -> None:
    data = split_file(tmp_path / "nvda_split.csv")
    config = actions_config(tmp_path, "  adjust_prices: true\n")
    assert features(tmp_path, str(data), "--symbol", "NVDA", "--config", str(config)) == 2
    assert "keep one of them" in capsys.readouterr().err


def test_a_bad_action_names_its_row(tmp_path: Path, capsys) -> None:
    config = actions_config(tmp_path)
    (tmp_path / "actions.csv").write_text("date,symbol,action,value\n2024-06-10,NVDA,merger,2\n")
    data = split_file(tmp_path / "nvda_split.csv")
    assert features(tmp_path, str(data), "--symbol", "NVDA", "--config", str(config)) == 2
    assert "actions.csv row 2: action: 'merger' is neither" in capsys.readouterr().err
