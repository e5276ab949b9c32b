"""Quotes as input: candles of the mid (or bid, or ask) equal polars on the same ticks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from connectors.files import shipped_path
from connectors.files.quotes import load_quotes
from flows.cli import main as cli_main

QUOTES = shipped_path("btcusdt_quotes_2021-01-08")


def polars_candles(ticks: pl.DataFrame, price: pl.Expr, every: str) -> pl.DataFrame:
    return (
        ticks.with_columns(price.alias("price"), (pl.col("ask") - pl.col("bid")).alias("spread"))
        .sort("timestamp", maintain_order=True)
        .group_by_dynamic("timestamp", every=every)
        .agg(
            pl.col("price").first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").last().alias("close"),
            pl.col("spread").mean(),
            pl.len().alias("quotes"),
        )
    )


@pytest.mark.parametrize(
    ("side", "price"),
    [
        ("mid", (pl.col("bid") + pl.col("ask")) / 2),
        ("bid", pl.col("bid")),
        ("ask", pl.col("ask")),
    ],
)
def test_quote_candles_equal_polars_on_the_same_ticks(side: str, price: pl.Expr) -> None:
    got = load_quotes(QUOTES, price=side)  # type: ignore[arg-type]
    expected = polars_candles(pl.read_parquet(QUOTES), price, "1m")
    for column in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(got.frame[column].to_numpy(), expected[column].to_numpy())
    assert got.frame["trades"].to_list() == expected["quotes"].to_list() == [451]
    assert got.frame["volume"].to_list() == [0.0]  # a quote is no traded volume


def test_features_on_a_quotes_file_just_works_with_the_spread(tmp_path: Path) -> None:
    out = tmp_path / "quotes.parquet"
    assert cli_main(["features", str(QUOTES), "--out", str(out), "--quiet"]) == 0
    frame = pl.read_parquet(out)
    one = frame.filter(pl.col("timeframe") == "1m")
    ticks = pl.read_parquet(QUOTES)
    expected = polars_candles(ticks, (pl.col("bid") + pl.col("ask")) / 2, "1m")
    assert one["close"].to_list() == expected["close"].to_list()
    assert one["spread"].to_list() == pytest.approx(expected["spread"].to_list(), rel=1e-12)
    assert sorted(frame["timeframe"].unique().to_list()) == ["15m", "1h", "1m", "4h", "5m"]


def test_bid_candles_by_configuration(tmp_path: Path) -> None:
    config = tmp_path / "bid.yaml"
    config.write_text("candles:\n  quote_price: bid\n")
    out = tmp_path / "bid.parquet"
    assert cli_main(["features", str(QUOTES), "--out", str(out), "--config", str(config),
                     "--quiet"]) == 0  # fmt: skip
    one = pl.read_parquet(out).filter(pl.col("timeframe") == "1m")
    assert one["low"].to_list() == [pl.read_parquet(QUOTES)["bid"].min()]


def test_crossed_and_broken_quotes_are_dead_lettered_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "eurusd_quotes.csv"
    path.write_text(
        "timestamp,bid,ask\n"
        "2024-01-08T10:00:00Z,1.0950,1.0951\n"
        "2024-01-08T10:00:01Z,1.0952,1.0949\n"
        "2024-01-08T10:00:02Z,x,1.0951\n"
        "2024-01-08T10:00:03Z,0,1.0951\n"
        "2024-01-08T10:00:04Z,1.0951,1.0953\n"
    )
    got = load_quotes(path)
    assert got.symbols == ("EUR/USD",) and got.quotes == 2
    reasons = sorted(letter.reason for letter in got.dead_letters)
    assert reasons == ["crossed_quote", "non_positive_price", "unparseable_value"]
    assert got.frame["open"].to_list() == [pytest.approx(1.09505)]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("xrp-eth_trades_2019-10", "trades"),
        ("btcusdt_trades_2021-01-08", "trades"),
        ("btc-perp_1m_2022-01", "candles"),
        ("btcusdt_quotes_2021-01-08", "quotes"),
    ],
)
def test_every_shipped_replay_file_is_told_apart(name: str, kind: str) -> None:
    from connectors.files import detect_kind

    assert detect_kind(shipped_path(name)) == kind
