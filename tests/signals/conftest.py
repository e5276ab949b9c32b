"""Real-data fixtures: feature batches of the BTC perpetual month built with polars + TA-Lib.

The indicator bank is developed separately; these tests build their own features so that the
signal stage is checked against an independent reference. Batches are cut the way a replay cuts
them: chunks of 1-minute input, each yielding its 15m, 1h and 4h candles closed in the chunk.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import talib

from schemas.batches import CandleBatch, FeatureBatch
from schemas.common import Timeframe

DATA = Path(__file__).resolve().parents[2] / "connectors" / "data" / "btc-perp_1m_2022-01.parquet"
SYMBOL = "BTC-PERP"
TIMEFRAMES = (Timeframe.M15, Timeframe.H1, Timeframe.H4)


def minute_bars() -> pl.DataFrame:
    return pl.read_parquet(DATA).sort("ts")


def rollup(minutes: pl.DataFrame, timeframe: Timeframe) -> pl.DataFrame:
    every = f"{timeframe.seconds}s"
    return (
        minutes.group_by_dynamic("ts", every=every, closed="left", label="left")
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
        )
        .sort("ts")
    )


def indicator_columns(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    high, low, close = (frame[c].to_numpy() for c in ("high", "low", "close"))
    macd, macd_signal, macd_hist = talib.MACD(close, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0)
    columns = {
        "sma_20": talib.SMA(close, 20),
        "ema_12": talib.EMA(close, 12),
        "ema_20": talib.EMA(close, 20),
        "ema_26": talib.EMA(close, 26),
        "ema_50": talib.EMA(close, 50),
        "atr_14": talib.ATR(high, low, close, 14),
        "macd": macd,
        "macd_signal": macd_signal,
        "macd_hist": macd_hist,
        "bb_upper": upper,
        "bb_middle": middle,
        "bb_lower": lower,
    }
    for period in (5, 14, 15, 30):
        columns[f"rsi_{period}"] = talib.RSI(close, period)
    return columns


def feature_frames(minutes: pl.DataFrame | None = None) -> dict[Timeframe, FeatureBatch]:
    """One whole-month FeatureBatch per timeframe."""
    minutes = minute_bars() if minutes is None else minutes
    out = {}
    for tf in TIMEFRAMES:
        frame = rollup(minutes, tf)
        ts_ns = frame["ts"].dt.epoch("ns").to_numpy()
        candles = CandleBatch.from_columns(
            SYMBOL,
            tf,
            ts_ns,
            frame["open"].to_numpy(),
            frame["high"].to_numpy(),
            frame["low"].to_numpy(),
            frame["close"].to_numpy(),
            frame["volume"].to_numpy(),
        )
        out[tf] = FeatureBatch(candles, indicator_columns(frame))
    return out


def replay_batches(chunk_minutes: int = 1000) -> list[FeatureBatch]:
    """The month cut like a replay: per chunk of input minutes, the candles closed in it."""
    minutes = minute_bars()
    whole = feature_frames(minutes)
    minute_ns = minutes["ts"].dt.epoch("ns").to_numpy()
    bounds = [*minute_ns[::chunk_minutes].tolist(), int(minute_ns[-1]) + Timeframe.M1.ns]
    batches: list[FeatureBatch] = []
    for start, end in itertools.pairwise(bounds):
        for tf in TIMEFRAMES:  # each chunk yields 15m, then 1h, then 4h candles
            batch = whole[tf]
            close_ns = batch.candles.ts_ns + tf.ns
            mask = (close_ns > start) & (close_ns <= end)
            if mask.any():
                index = np.flatnonzero(mask)
                batches.append(
                    FeatureBatch(
                        batch.candles.take(index),
                        {name: col[index] for name, col in batch.columns.items()},
                    )
                )
    return batches


@pytest.fixture(scope="session")
def month_features() -> dict[Timeframe, FeatureBatch]:
    return feature_frames()


@pytest.fixture(scope="session")
def month_replay_batches() -> list[FeatureBatch]:
    return replay_batches()
