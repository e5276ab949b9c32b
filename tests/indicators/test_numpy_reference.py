"""Volatility, z-score and VWAP against independent numpy/polars computations on real candles."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from operators.indicators import VWAP, Volatility, ZScore


def numpy_volatility(close: np.ndarray, period: int) -> np.ndarray:
    """Sample std (ddof=1) of the last ``period`` log returns; NaN for the first ``period`` rows."""
    returns = np.log(close[1:] / close[:-1])
    out = np.full(len(close), np.nan)
    out[period:] = sliding_window_view(returns, period).std(axis=1, ddof=1)
    return out


def numpy_zscore(close: np.ndarray, period: int) -> np.ndarray:
    """(close − window mean) / window population std, window including the close; 0 if flat."""
    windows = sliding_window_view(close, period)
    mean = windows.mean(axis=1)
    std = windows.std(axis=1, ddof=0)
    flat = windows.min(axis=1) == windows.max(axis=1)
    out = np.full(len(close), np.nan)
    out[period - 1 :] = np.where(flat, 0.0, (close[period - 1 :] - mean) / np.where(flat, 1.0, std))
    return out


def polars_vwap(series: dict[str, np.ndarray]) -> np.ndarray:
    frame = pl.DataFrame(
        {name: series[name] for name in ("high", "low", "close", "volume")}
    ).with_columns(
        day=pl.Series(series["ts_ns"]) // 86_400_000_000_000,
        typical=(pl.col("high") + pl.col("low") + pl.col("close")) / 3.0,
    )
    vwap = (pl.col("typical") * pl.col("volume")).cum_sum().over("day") / pl.col(
        "volume"
    ).cum_sum().over("day")
    return frame.select(vwap.alias("vwap"))["vwap"].to_numpy()


@pytest.mark.parametrize("period", [2, 20, 60])
def test_volatility_matches_numpy_and_polars(
    all_series, like_reference: Callable[..., None], period: int
) -> None:
    for name, s in all_series.items():
        ours = Volatility(period).update_many(s["close"])
        # atol in log-return units, a few ulps of a return: windows of nearly equal returns
        # have a std so tiny that only its absolute precision means anything
        reference = numpy_volatility(s["close"], period)
        like_reference(ours, reference, warmup=period + 1, rtol=1e-9, atol=1e-17, label=name)
    close = all_series["btc-perp"]["close"]
    by_polars = pl.Series(close).log().diff().rolling_std(period).to_numpy()
    # polars' returns are differences of logs (each log ~10.7, ulp 1.8e-15): absolute tolerance
    np.testing.assert_allclose(
        Volatility(period).update_many(close)[period:], by_polars[period:], rtol=1e-9, atol=1e-13
    )


@pytest.mark.parametrize("period", [2, 20])
def test_zscore_matches_numpy(all_series, like_reference: Callable[..., None], period: int) -> None:
    for name, s in all_series.items():
        ours = ZScore(period).update_many(s["close"])
        reference = numpy_zscore(s["close"], period)
        # z is a ratio of small differences of large prices: compare on the z scale
        like_reference(ours, reference, warmup=period, rtol=1e-9, atol=1e-9, label=name)


def test_vwap_matches_polars_on_the_btc_month(btc) -> None:
    ours = VWAP().update_many(btc["high"], btc["low"], btc["close"], btc["volume"], btc["ts_ns"])
    reference = polars_vwap(btc)
    assert not np.isnan(ours).any()
    np.testing.assert_allclose(ours, reference, rtol=1e-12)


def test_vwap_resets_at_each_utc_midnight(btc) -> None:
    ours = VWAP().update_many(btc["high"], btc["low"], btc["close"], btc["volume"], btc["ts_ns"])
    day = btc["ts_ns"] // 86_400_000_000_000
    starts = np.flatnonzero(np.diff(day)) + 1
    assert len(starts) == 32  # 2021-12-31 23:01 → 2022-02-01 05:31 spans 33 UTC days
    typical = (btc["high"] + btc["low"] + btc["close"]) / 3.0
    np.testing.assert_allclose(ours[starts], typical[starts], rtol=1e-15)
    # …and the reset matters: the session before had a different average
    assert np.all(np.abs(ours[starts - 1] - typical[starts]) > 1e-6)


def test_vwap_matches_polars_on_each_alt_pair(alts) -> None:
    for name, s in alts.items():
        ours = VWAP().update_many(s["high"], s["low"], s["close"], s["volume"], s["ts_ns"])
        np.testing.assert_allclose(ours, polars_vwap(s), rtol=1e-12, err_msg=name)
