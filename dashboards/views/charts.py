"""Candle charts per timeframe with indicators, fused-signal markers and fills."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboards.charts import candle_chart, oscillator_chart
from dashboards.frames import candle_window, fill_markers, series, signal_markers
from dashboards.store import require_engine
from dashboards.ui import live
from schemas.common import Timeframe

TITLE = "Charts"
ICON = ":material/candlestick_chart:"
URL = "charts"

_ORDER = {tf.value: i for i, tf in enumerate(Timeframe)}


def render() -> None:
    st.title("Candles and signals", anchor=False)
    engine = require_engine()
    inventory = series(engine)
    if inventory.height == 0:
        st.info("No candles in the store yet.")
        return
    symbols = sorted(set(inventory["symbol"].to_list()))
    left, middle, right = st.columns([2, 2, 3])
    symbol = left.selectbox("Asset", symbols, key="chart_symbol")
    timeframes = sorted(
        inventory.filter(pl.col("symbol") == symbol)["timeframe"].to_list(),
        key=lambda tf: _ORDER.get(tf, 99),
    )
    default = timeframes.index("15m") if "15m" in timeframes else 0
    timeframe = middle.selectbox("Timeframe", timeframes, index=default, key="chart_timeframe")
    bars = right.slider("Candles", 50, 1500, 300, step=50, key="chart_bars")
    decisions = st.multiselect(
        "Fused signals to mark",
        ["open", "review", "ignore"],
        default=["open", "review"],
        key="chart_decisions",
    )

    def draw() -> None:
        window = candle_window(engine, symbol, timeframe, bars=bars)
        markers = signal_markers(engine, symbol, window, tuple(decisions))
        fills = fill_markers(engine, symbol, window)
        st.altair_chart(candle_chart(window.bars, window.lines(), markers, fills), width="stretch")
        if "rsi_14" in window.features.columns and window.features["rsi_14"].is_not_nan().any():
            st.caption("RSI 14")
            st.altair_chart(
                oscillator_chart(window.features.select("ts", "rsi_14"), "rsi_14", [30, 70]),
                width="stretch",
            )
        st.caption(
            f"{window.bars.height} {timeframe} candles of {symbol}, "
            f"{markers.height} fused signal(s), {fills.height} fill(s) in view"
        )

    live(engine, draw)
