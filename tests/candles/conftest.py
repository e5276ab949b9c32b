"""Real market data shipped in connectors/data, loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from schemas.batches import CandleBatch, TradeBatch
from schemas.common import Timeframe

DATA = Path(__file__).resolve().parents[2] / "connectors" / "data"


def epoch_ns(frame: pl.DataFrame, column: str = "ts") -> np.ndarray:
    return frame[column].dt.epoch("ns").to_numpy().astype(np.int64)


@pytest.fixture(scope="session")
def xrp_trades() -> TradeBatch:
    """12,477 XRP/ETH trades (Binance), in file (= arrival) order."""
    frame = pl.read_parquet(DATA / "xrp-eth_trades_2019-10.parquet")
    return TradeBatch.from_columns(
        "XRP/ETH",
        epoch_ns(frame),
        frame["price"].to_numpy(),
        frame["amount"].to_numpy(),
        frame["id"].cast(pl.Int64).to_numpy(),
        np.where(frame["side"].to_numpy() == "buy", 1, -1),
    )


@pytest.fixture(scope="session")
def xrp_reference() -> pl.DataFrame:
    """The XRP/ETH 1-minute OHLCV built from those trades (untraded minutes absent)."""
    return pl.read_parquet(DATA / "xrp-eth_1m_2019-10.parquet")


@pytest.fixture(scope="session")
def btc_perp_frame() -> pl.DataFrame:
    """BTC perpetual, 1-minute OHLCV, 45,031 bars (with gaps), time order."""
    return pl.read_parquet(DATA / "btc-perp_1m_2022-01.parquet").sort("ts")


@pytest.fixture(scope="session")
def btc_perp_1m(btc_perp_frame: pl.DataFrame) -> CandleBatch:
    f = btc_perp_frame
    return CandleBatch.from_columns(
        "BTC-PERP",
        Timeframe.M1,
        epoch_ns(f),
        f["open"],
        f["high"],
        f["low"],
        f["close"],
        f["volume"],
    )


@pytest.fixture(scope="session")
def alts_5m_frame() -> pl.DataFrame:
    """Ten BTC-quoted pairs, 5-minute OHLCV, long format with ``symbol``."""
    return pl.read_parquet(DATA / "alts-btc_5m_2018-01.parquet").sort("symbol", "ts")
