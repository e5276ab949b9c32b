"""Chart builders (Altair): candles with indicators and markers, contributions, equity.

Pure functions from frames to chart specs, so they are tested without a browser.

>>> import polars as pl
>>> from datetime import UTC, datetime, timedelta
>>> t0 = datetime(2022, 1, 3, tzinfo=UTC)
>>> bars = pl.DataFrame({"ts": [t0, t0 + timedelta(minutes=15)], "open": [1.0, 2.0],
...                      "high": [2.5, 3.0], "low": [0.5, 1.5], "close": [2.0, 1.8]})
>>> spec = candle_chart(bars, pl.DataFrame(), pl.DataFrame(), pl.DataFrame()).to_dict()
>>> len(spec["layer"]), spec["layer"][0]["mark"]["type"]
(2, 'rule')
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl

UP, DOWN = "#26a69a", "#ef5350"
LINE_COLORS = {
    "ema_20": "#f9a825",
    "ema_50": "#6a1b9a",
    "bb_upper": "#90a4ae",
    "bb_middle": "#b0bec5",
    "bb_lower": "#90a4ae",
    "vwap": "#1e88e5",
}
CONTRIBUTION_ROW_PX = 32
DECISION_COLORS = {"open": "#2e7d32", "review": "#f9a825", "ignore": "#9e9e9e"}
_TIME = alt.X("ts:T", title=None, axis=alt.Axis(format="%b %d %H:%M"))


def candle_chart(
    bars: pl.DataFrame,
    lines: pl.DataFrame,
    signals: pl.DataFrame,
    fills: pl.DataFrame,
    *,
    height: int = 380,
) -> alt.LayerChart:
    """Candlesticks; indicator lines; fused-signal and fill markers.

    ``bars``: ts, open, high, low, close. ``lines``: ts, indicator, value (long format).
    ``signals``: ts, price, decision, direction, score, fused_id. ``fills``: ts, price, side,
    quantity. Empty frames draw nothing.
    """
    data = bars.with_columns(rising=pl.col("close") >= pl.col("open"))
    color = alt.condition("datum.rising", alt.value(UP), alt.value(DOWN))
    base = alt.Chart(data).encode(x=_TIME)
    wicks = base.mark_rule().encode(
        y=alt.Y("low:Q", title="price", scale=alt.Scale(zero=False)), y2="high:Q", color=color
    )
    bodies = base.mark_bar().encode(
        y="open:Q",
        y2="close:Q",
        color=color,
        tooltip=[
            alt.Tooltip("ts:T", format="%Y-%m-%d %H:%M", title="open time (UTC)"),
            "open:Q",
            "high:Q",
            "low:Q",
            "close:Q",
        ],
    )
    layers: list[alt.Chart] = [wicks, bodies]
    if lines.height:
        names = sorted(set(lines["indicator"].to_list()))
        layers.append(
            alt.Chart(lines)
            .mark_line(strokeWidth=1.2)
            .encode(
                x=_TIME,
                y="value:Q",
                color=alt.Color(
                    "indicator:N",
                    scale=alt.Scale(
                        domain=names, range=[LINE_COLORS.get(n, "#555") for n in names]
                    ),
                    legend=alt.Legend(orient="top", title=None),
                ),
            )
        )
    if signals.height:
        layers.append(
            alt.Chart(
                signals.with_columns(
                    shape=pl.when(pl.col("direction") == "short")
                    .then(pl.lit("triangle-down"))
                    .otherwise(pl.lit("triangle-up"))
                )
            )
            .mark_point(size=140, filled=True, opacity=0.9)
            .encode(
                x=_TIME,
                y="price:Q",
                shape=alt.Shape("shape:N", scale=None),
                color=alt.Color(
                    "decision:N",
                    scale=alt.Scale(
                        domain=list(DECISION_COLORS), range=list(DECISION_COLORS.values())
                    ),
                    legend=alt.Legend(orient="top", title="fused signal"),
                ),
                tooltip=[
                    "fused_id:N",
                    "decision:N",
                    "direction:N",
                    alt.Tooltip("score:Q", format="+.3f"),
                ],
            )
        )
    if fills.height:
        layers.append(
            alt.Chart(fills)
            .mark_point(shape="diamond", size=90, filled=True, color="#1e88e5")
            .encode(x=_TIME, y="price:Q", tooltip=["side:N", "quantity:Q", "price:Q"])
        )
    return alt.layer(*layers).properties(height=height).interactive(bind_y=False)


def oscillator_chart(frame: pl.DataFrame, column: str, bounds: Sequence[float]) -> alt.LayerChart:
    """A line of ``column`` over time with horizontal guides at ``bounds`` (e.g. RSI 30/70).

    >>> import polars as pl
    >>> spec = oscillator_chart(pl.DataFrame({"ts": [0], "rsi_14": [55.0]}), "rsi_14", [30, 70])
    >>> spec.to_dict()["layer"][1]["mark"]["type"]
    'rule'
    """
    line = (
        alt.Chart(frame)
        .mark_line(color="#5c6bc0")
        .encode(x=_TIME, y=alt.Y(f"{column}:Q", title=column))
    )
    guides = (
        alt.Chart(pl.DataFrame({"level": list(bounds)}))
        .mark_rule(strokeDash=[4, 4], color="#9e9e9e")
        .encode(y=alt.Y("level:Q", title=column))
    )
    return alt.layer(line, guides).properties(height=120)


def contribution_chart(contributions: pl.DataFrame) -> alt.Chart:
    """Each source's share of a fused score (signed bars; they add up to the score).

    >>> import polars as pl
    >>> frame = pl.DataFrame({"source": ["a@15m", "b@1h"], "share": [0.3, -0.1],
    ...                       "direction": ["long", "short"]})
    >>> contribution_chart(frame).to_dict()["mark"]["type"]
    'bar'
    """
    return (
        alt.Chart(contributions)
        .mark_bar()
        .encode(
            y=alt.Y("source:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260)),
            x=alt.X("share:Q", title="share of the fused score"),
            color=alt.condition("datum.share >= 0", alt.value(UP), alt.value(DOWN)),
            tooltip=["source:N", "direction:N", alt.Tooltip("share:Q", format="+.4f")],
        )
        .properties(height=CONTRIBUTION_ROW_PX * contributions.height)
    )


def equity_chart(curve: pl.DataFrame) -> alt.VConcatChart:
    """Equity over time above its drawdown (%), sharing the time axis.

    >>> import polars as pl
    >>> frame = pl.DataFrame({"ts": [0, 1], "equity": [100.0, 95.0], "drawdown_pct": [0.0, 5.0]})
    >>> len(equity_chart(frame).to_dict()["vconcat"])
    2
    """
    equity = (
        alt.Chart(curve)
        .mark_line(color="#1e88e5")
        .encode(x=_TIME, y=alt.Y("equity:Q", scale=alt.Scale(zero=False)))
        .properties(height=260)
    )
    drawdown = (
        alt.Chart(curve.with_columns(drawdown=-pl.col("drawdown_pct")))
        .mark_area(color=DOWN, opacity=0.5)
        .encode(x=_TIME, y=alt.Y("drawdown:Q", title="drawdown %"))
        .properties(height=110)
    )
    return alt.vconcat(equity, drawdown)
