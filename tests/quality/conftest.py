"""Real candles for the quality tests: the BTC perpetual's first 3,000 one-minute bars."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import connectors

BTC_PERP = Path(connectors.__file__).parent / "data" / "btc-perp_1m_2022-01.parquet"


@pytest.fixture(scope="session")
def btc_1m() -> pl.DataFrame:
    """symbol, timeframe, ts (datetime), open, high, low, close, volume — clean, gap-free."""
    return (
        pl.read_parquet(BTC_PERP)
        .head(3000)
        .select(
            pl.lit("BTC-PERP").alias("symbol"),
            pl.lit("1m").alias("timeframe"),
            "ts",
            "open",
            "high",
            "low",
            "close",
            "volume",
        )
    )


@pytest.fixture(scope="session")
def btc_5m(btc_1m: pl.DataFrame) -> pl.DataFrame:
    """The same bars rolled up to 5 minutes with polars (epoch-aligned buckets)."""
    return (
        btc_1m.group_by_dynamic("ts", every="5m", group_by=["symbol"])
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
        )
        .with_columns(pl.lit("5m").alias("timeframe"))
        .select(btc_1m.columns)
    )
