"""The practical limit: a polars + TA-Lib vectorized pass over the same trades.

Trades → 1m candles → 5m/15m/1h/4h roll-ups (UTC-aligned ``group_by_dynamic``) → the default
indicator columns on every timeframe, all in bulk. Not streaming, no validation, no state: the
figure Quorum's streaming flow is compared against.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import talib

from schemas.common import INTRADAY_TIMEFRAMES

_EVERY = {"1m": "1m", "5m": "5m", "15m": "15m", "1h": "1h", "4h": "4h"}


def _indicators(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    close = frame["close"].to_numpy()
    high = frame["high"].to_numpy()
    low = frame["low"].to_numpy()
    macd, signal, hist = talib.MACD(close, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0, 0)
    logret = np.diff(np.log(close), prepend=np.nan)
    return {
        "sma_20": talib.SMA(close, 20),
        "ema_12": talib.EMA(close, 12),
        "ema_26": talib.EMA(close, 26),
        "ema_20": talib.EMA(close, 20),
        "ema_50": talib.EMA(close, 50),
        "rsi_14": talib.RSI(close, 14),
        "atr_14": talib.ATR(high, low, close, 14),
        "macd": macd,
        "macd_signal": signal,
        "macd_hist": hist,
        "bb_upper": upper,
        "bb_middle": middle,
        "bb_lower": lower,
        "volatility_20": talib.STDDEV(logret, 20, 1.0),
        "zscore_20": (close - talib.SMA(close, 20)) / talib.STDDEV(close, 20, 1.0),
    }


def vectorized_pass(trades: pl.DataFrame) -> dict[str, int]:
    """Candles on all five timeframes + indicators for every symbol; returns rows per timeframe.

    ``trades`` has columns symbol, ts_ns, price, amount (event-time order per symbol).
    """
    frame = trades.with_columns(pl.from_epoch("ts_ns", time_unit="ns").alias("ts")).sort(
        "symbol", "ts"
    )
    rows: dict[str, int] = {}
    minute = frame.group_by_dynamic("ts", every="1m", group_by="symbol", closed="left").agg(
        pl.col("price").first().alias("open"),
        pl.col("price").max().alias("high"),
        pl.col("price").min().alias("low"),
        pl.col("price").last().alias("close"),
        pl.col("amount").sum().alias("volume"),
    )
    for tf in INTRADAY_TIMEFRAMES:
        candles = (
            minute
            if tf.value == "1m"
            else minute.group_by_dynamic(
                "ts", every=_EVERY[tf.value], group_by="symbol", closed="left"
            ).agg(
                pl.col("open").first(),
                pl.col("high").max(),
                pl.col("low").min(),
                pl.col("close").last(),
                pl.col("volume").sum(),
            )
        )
        rows[tf.value] = candles.height
        for _, part in candles.group_by("symbol", maintain_order=True):
            _indicators(part)
    return rows
