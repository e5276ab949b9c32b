"""Incremental technical indicators: pure, picklable cores with O(1) state.

Every indicator consumes one closed candle (or one value) per ``update`` and returns its current
output, ``nan`` until it has seen enough inputs (``warmup``); ``update_many`` runs a batch.
The TA-Lib ones (SMA, EMA, RSI, ATR, MACD, Bollinger) reproduce TA-Lib's values and warm-up
boundaries; each module documents its formula and any difference. ``IndicatorBank`` holds the
set of features the flow computes per (symbol, timeframe). The arithmetic itself runs compiled
(numba, :mod:`._kernels`) over small state vectors, the same code for one candle or a batch.

>>> from operators.indicators import EMA
>>> EMA(2).update_many([1.0, 2.0, 3.0]).tolist()
[nan, 1.5, 2.5]
"""

from operators.indicators.atr import ATR, true_range
from operators.indicators.bank import (
    DEFAULT_FEATURES,
    IndicatorBank,
    feature_names_for,
    required_warmup,
)
from operators.indicators.bollinger import Bollinger, BollingerValue
from operators.indicators.ema import EMA
from operators.indicators.macd import MACD, MACDValue
from operators.indicators.rsi import RSI
from operators.indicators.sma import SMA
from operators.indicators.volatility import Volatility
from operators.indicators.vwap import VWAP
from operators.indicators.zscore import ZScore

__all__ = [
    "ATR",
    "DEFAULT_FEATURES",
    "EMA",
    "MACD",
    "RSI",
    "SMA",
    "VWAP",
    "Bollinger",
    "BollingerValue",
    "IndicatorBank",
    "MACDValue",
    "Volatility",
    "ZScore",
    "feature_names_for",
    "required_warmup",
    "true_range",
]
