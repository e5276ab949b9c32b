"""Real market data for the indicator tests, loaded once per session, and a TA-Lib comparator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from operators.indicators import IndicatorBank
from schemas.batches import CandleBatch
from schemas.common import Timeframe

DATA_DIR = Path(__file__).resolve().parents[2] / "connectors" / "data"
COLUMNS = ("open", "high", "low", "close", "volume")

Series = dict[str, np.ndarray]


def _columns(frame: pl.DataFrame) -> Series:
    series = {name: frame[name].to_numpy().astype(np.float64) for name in COLUMNS}
    series["ts_ns"] = frame["ts"].dt.epoch("ns").to_numpy().astype(np.int64)
    return series


@pytest.fixture(scope="session")
def btc() -> Series:
    """The BTC perpetual month: 45,031 one-minute candles."""
    frame = pl.read_parquet(DATA_DIR / "btc-perp_1m_2022-01.parquet").sort("ts")
    assert frame.height == 45_031
    return _columns(frame)


@pytest.fixture(scope="session")
def alts() -> dict[str, Series]:
    """The ten BTC-quoted pairs, five-minute candles, one series per symbol."""
    frame = pl.read_parquet(DATA_DIR / "alts-btc_5m_2018-01.parquet")
    out = {
        symbol: _columns(frame.filter(pl.col("symbol") == symbol).sort("ts"))
        for symbol in sorted(frame["symbol"].unique().to_list())
    }
    assert len(out) == 10
    return out


@pytest.fixture(scope="session")
def all_series(btc: Series, alts: dict[str, Series]) -> dict[str, Series]:
    """Every real series: the BTC month first, then the ten alt pairs."""
    return {"btc-perp": btc, **alts}


def candle_batch(symbol: str, series: Series, timeframe: Timeframe) -> CandleBatch:
    return CandleBatch.from_columns(
        symbol,
        timeframe,
        series["ts_ns"],
        series["open"],
        series["high"],
        series["low"],
        series["close"],
        series["volume"],
    )


@pytest.fixture(scope="session")
def btc_features(btc: Series) -> dict[str, np.ndarray]:
    """A default IndicatorBank's columns over the whole BTC month (computed once)."""
    return IndicatorBank().update_batch(candle_batch("BTC-PERP", btc, Timeframe.M1))


@pytest.fixture(scope="session")
def as_batch() -> Callable[[str, Series, Timeframe], CandleBatch]:
    return candle_batch


def assert_like_reference(
    ours: np.ndarray,
    reference: np.ndarray,
    *,
    warmup: int,
    rtol: float = 1e-9,
    atol: float = 0.0,
    label: str = "",
) -> None:
    """NaN exactly where the reference has NaN (the first ``warmup - 1`` rows), then close.

    ``atol`` is for outputs that cross zero (MACD, z-score), where a relative tolerance alone
    means nothing; callers scale it to the series.
    """
    assert ours.shape == reference.shape, label
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference), err_msg=label)
    valid = ~np.isnan(reference)
    assert valid.any(), label
    assert int(np.argmax(valid)) == warmup - 1, label
    assert not np.isnan(reference[warmup - 1 :]).any(), label
    np.testing.assert_allclose(ours[valid], reference[valid], rtol=rtol, atol=atol, err_msg=label)


@pytest.fixture(scope="session")
def like_reference() -> Callable[..., None]:
    return assert_like_reference
