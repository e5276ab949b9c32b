"""Evaluate signals and fused scores against what the price did next.

For every signal: the entry is the last close at or before its timestamp, the exit the last close
at or before ``timestamp + horizon`` (a source signal's horizon is its expiry; a fused signal's is
``fused_horizon``), both from the finest candles available for the asset. A signal whose horizon
runs past the end of the data is *unresolved* and left out (counted).

Per source (``origin@timeframe``) and for the fused score:

* ``signals`` / ``resolved`` counts;
* ``hit_rate``: share of resolved signals whose direction the price followed (no move = miss);
* ``avg_return_bps``: mean forward return in the signal's direction, basis points;
* ``brier``: mean ``(p − outcome)²`` with ``p = (1 + confidence) / 2`` the stated probability of
  being right (for the fused score ``p = (1 + score) / 2`` the probability of *up*, outcome up);
  0.25 is a coin flip, lower is better;
* a reliability curve: predictions binned by ``p``, mean ``p`` against the observed frequency.

Fused rows: ``fused`` covers every fused signal with a direction (score ≠ 0), and ``fused:open``
/ ``fused:review`` the ones in those decision bands.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from schemas.common import Timeframe

_TS = pl.Datetime("ns", "UTC")
_TIMEFRAME_SECONDS = {tf.value: tf.seconds for tf in Timeframe}


@dataclass
class EvaluationReport:
    """Per-group summary table and reliability curves."""

    table: pl.DataFrame
    curves: pl.DataFrame
    unresolved: int
    fused_horizon: timedelta

    def to_dict(self) -> dict[str, Any]:
        def clean(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [
                {
                    k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in row.items()
                }
                for row in rows
            ]

        return {
            "fused_horizon_minutes": self.fused_horizon.total_seconds() / 60,
            "unresolved": self.unresolved,
            "groups": clean(self.table.to_dicts()),
            "reliability_curves": clean(self.curves.to_dicts()),
        }

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")


def price_series(candles: pl.DataFrame) -> pl.DataFrame:
    """Candles (``symbol, timeframe, ts`` open time, ``close``) → ``asset, known_at, price``.

    Uses each symbol's finest timeframe; ``known_at`` is the candle's close time (open time +
    the timeframe's length, as the signal engine stamps closes: a daily bar stamped at its
    session's date is known a day later).

    >>> from datetime import datetime, UTC
    >>> c = pl.DataFrame({"symbol": ["A", "A", "A"], "timeframe": ["1m", "1m", "1h"],
    ...                   "ts": [datetime(2022, 1, 1, 0, m, tzinfo=UTC) for m in (0, 1, 0)],
    ...                   "close": [10.0, 11.0, 12.0]})
    >>> price_series(c)["known_at"].dt.minute().to_list()
    [1, 2]
    >>> days = pl.DataFrame({"symbol": ["GOOG"] * 3, "timeframe": ["1d", "1d", "1w"],
    ...                      "ts": [datetime(2004, 8, d, tzinfo=UTC) for d in (19, 20, 16)],
    ...                      "close": [100.34, 108.31, 108.31]})
    >>> price_series(days)["known_at"].dt.day().to_list()
    [20, 21]
    """
    if candles.is_empty():
        return pl.DataFrame(schema={"asset": pl.String, "known_at": _TS, "price": pl.Float64})
    seconds = pl.col("timeframe").replace_strict(_TIMEFRAME_SECONDS, return_dtype=pl.Int64)
    frame = candles.with_columns(seconds.alias("tf_seconds"))
    finest = frame.group_by("symbol").agg(pl.col("tf_seconds").min().alias("finest"))
    frame = frame.join(finest, on="symbol").filter(pl.col("tf_seconds") == pl.col("finest"))
    known_at = pl.col("ts").cast(_TS) + pl.duration(seconds=pl.col("tf_seconds"))
    return frame.select(
        pl.col("symbol").alias("asset"),
        known_at.cast(_TS).alias("known_at"),
        pl.col("close").cast(pl.Float64).alias("price"),
    ).sort("asset", "known_at")


def attach_outcomes(events: pl.DataFrame, prices: pl.DataFrame) -> pl.DataFrame:
    """Add ``entry``, ``exit`` and ``resolved`` to events with ``asset, ts, until``."""
    prices = prices.sort("asset", "known_at")
    last_known = prices.group_by("asset").agg(pl.col("known_at").max().alias("data_end"))
    events = events.with_row_index("_row").sort("ts")
    with_entry = events.join_asof(
        prices.rename({"known_at": "ts_entry", "price": "entry"}),
        left_on="ts",
        right_on="ts_entry",
        by="asset",
        strategy="backward",
        check_sortedness=False,
    )
    with_exit = with_entry.sort("until").join_asof(
        prices.rename({"known_at": "ts_exit", "price": "exit"}),
        left_on="until",
        right_on="ts_exit",
        by="asset",
        strategy="backward",
        check_sortedness=False,
    )
    return (
        with_exit.join(last_known, on="asset", how="left")
        .with_columns(
            (
                pl.col("entry").is_not_null()
                & pl.col("exit").is_not_null()
                & (pl.col("data_end") >= pl.col("until"))
            ).alias("resolved")
        )
        .sort("_row")
        .drop("_row", "ts_entry", "ts_exit", "data_end")
    )


def _sign(direction: pl.Expr) -> pl.Expr:
    return pl.when(direction == "long").then(1).when(direction == "short").then(-1).otherwise(0)


def source_outcomes(signals: pl.DataFrame, prices: pl.DataFrame) -> pl.DataFrame:
    """One row per signal: group, p (stated probability right), signed return, hit, resolved."""
    events = signals.select(
        (pl.col("origin") + "@" + pl.col("timeframe")).alias("group"),
        "asset",
        pl.col("ts").cast(_TS),
        pl.col("expires_at").cast(_TS).alias("until"),
        _sign(pl.col("direction")).alias("sign"),
        ((1.0 + pl.col("confidence")) / 2.0).alias("p"),
    )
    return _score(attach_outcomes(events, prices), fused=False)


def fused_outcomes(fused: pl.DataFrame, prices: pl.DataFrame, horizon: timedelta) -> pl.DataFrame:
    """One row per fused signal with a direction, labelled ``fused`` (and its decision band)."""
    events = fused.filter(pl.col("score") != 0).select(
        "asset",
        pl.col("ts").cast(_TS),
        (pl.col("ts").cast(_TS) + horizon).cast(_TS).alias("until"),
        pl.col("score").sign().cast(pl.Int64).alias("sign"),
        ((1.0 + pl.col("score")) / 2.0).alias("p"),
        pl.col("decision"),
    )
    scored = _score(attach_outcomes(events, prices), fused=True)
    banded = scored.filter(pl.col("decision").is_in(["open", "review"])).with_columns(
        ("fused:" + pl.col("decision")).alias("group")
    )
    return pl.concat(
        [scored.with_columns(pl.lit("fused").alias("group")), banded], how="diagonal_relaxed"
    ).drop("decision")


def _score(frame: pl.DataFrame, *, fused: bool) -> pl.DataFrame:
    move = pl.col("exit") / pl.col("entry") - 1.0
    signed = move * pl.col("sign")
    # sources: p = P(right), outcome = hit; fused: p = P(up), outcome = price went up
    outcome = (move > 0) if fused else (signed > 0)
    return frame.with_columns(
        signed.alias("signed_return"),
        (signed > 0).alias("hit"),
        outcome.cast(pl.Float64).alias("outcome"),
    ).with_columns(((pl.col("p") - pl.col("outcome")) ** 2).alias("brier"))


def summarize(outcomes: pl.DataFrame) -> pl.DataFrame:
    """Per group: counts, hit rate, average signed forward return (bps), Brier score."""
    resolved = pl.col("resolved")
    return (
        outcomes.group_by("group")
        .agg(
            pl.len().alias("signals"),
            resolved.sum().alias("resolved"),
            pl.col("hit").filter(resolved).mean().alias("hit_rate"),
            (pl.col("signed_return").filter(resolved).mean() * 10_000).alias("avg_return_bps"),
            pl.col("brier").filter(resolved).mean().alias("brier"),
            pl.col("p").filter(resolved).mean().alias("mean_p"),
        )
        .with_columns(pl.col("resolved").cast(pl.Int64))
        .sort(pl.col("group").str.starts_with("fused"), "group")
    )


def reliability_curves(outcomes: pl.DataFrame, bins: int = 5) -> pl.DataFrame:
    """Binned stated probability against the observed frequency, per group.

    Sources' ``p`` lies in [0.5, 1]; the fused ``p`` (of up) in [0, 1]: bins span those ranges.
    """
    resolved = outcomes.filter(pl.col("resolved"))
    if resolved.is_empty():
        return pl.DataFrame(
            schema={
                "group": pl.String,
                "bin": pl.Int64,
                "count": pl.UInt32,
                "mean_p": pl.Float64,
                "observed": pl.Float64,
            }
        )
    low = pl.when(pl.col("group").str.starts_with("fused")).then(0.0).otherwise(0.5)
    position = (pl.col("p") - low) / (1.0 - low) * bins + 1e-9  # 0.6 lands in [0.6, 0.7)
    index = position.floor().clip(0, bins - 1).cast(pl.Int64)
    return (
        resolved.with_columns(index.alias("bin"))
        .group_by("group", "bin")
        .agg(
            pl.len().alias("count"),
            pl.col("p").mean().alias("mean_p"),
            pl.col("outcome").mean().alias("observed"),
        )
        .sort("group", "bin")
    )


def evaluate(
    signals: pl.DataFrame,
    fused: pl.DataFrame,
    candles: pl.DataFrame,
    *,
    fused_horizon: timedelta = timedelta(hours=4),
    bins: int = 5,
) -> EvaluationReport:
    """The whole evaluation: signals and fused signals (store readers' frames) against candles."""
    prices = price_series(candles)
    parts = []
    if signals.height:
        parts.append(source_outcomes(signals, prices))
    if fused.height:
        parts.append(fused_outcomes(fused, prices, fused_horizon))
    if not parts:
        empty = pl.DataFrame(schema={"group": pl.String})
        return EvaluationReport(empty, empty, 0, fused_horizon)
    outcomes = pl.concat(parts, how="diagonal_relaxed")
    counted_once = ~pl.col("group").str.starts_with("fused:")  # band rows repeat "fused" rows
    unresolved = outcomes.filter(~pl.col("resolved") & counted_once).height
    return EvaluationReport(
        summarize(outcomes), reliability_curves(outcomes, bins), unresolved, fused_horizon
    )


def render_table(report: EvaluationReport) -> Any:
    """A rich table of the summary (imported lazily: the CLI stays cheap to import)."""
    from rich.table import Table

    table = Table(
        title=f"Signal evaluation (fused horizon {report.fused_horizon}; "
        f"{report.unresolved} unresolved left out)"
    )
    for name, justify in (
        ("source", "left"),
        ("signals", "right"),
        ("resolved", "right"),
        ("hit rate", "right"),
        ("avg ret (bps)", "right"),
        ("Brier", "right"),
        ("mean p", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in report.table.iter_rows(named=True):
        table.add_row(
            row["group"],
            str(row["signals"]),
            str(row["resolved"]),
            _fmt(row["hit_rate"], "{:.1%}"),
            _fmt(row["avg_return_bps"], "{:+.1f}"),
            _fmt(row["brier"], "{:.3f}"),
            _fmt(row["mean_p"], "{:.3f}"),
        )
    return table


def _fmt(value: float | None, pattern: str) -> str:
    return "–" if value is None or not math.isfinite(value) else pattern.format(value)


def plot_report(report: EvaluationReport, path: str | Path) -> Path:
    """Reliability curves (left) and hit rates (right) in one PNG (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curves_ax, hits_ax) = plt.subplots(1, 2, figsize=(15, 6.5))
    curves_ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
    groups = report.curves["group"].unique().sort().to_list() if report.curves.height else []
    for group in groups:
        curve = report.curves.filter((pl.col("group") == group) & (pl.col("count") >= 5))
        if curve["count"].sum() < 20:
            continue  # too few to draw a curve worth reading
        style = {"linewidth": 2.5, "color": "black"} if group == "fused" else {"alpha": 0.7}
        curves_ax.plot(curve["mean_p"], curve["observed"], marker="o", label=group, **style)
    curves_ax.set_xlabel("stated probability (sources: right; fused: up)")
    curves_ax.set_ylabel("observed frequency")
    curves_ax.set_title("Reliability curves (bins with ≥ 5, groups with ≥ 20 resolved)")
    curves_ax.set_xlim(0, 1)
    curves_ax.set_ylim(0, 1)
    curves_ax.legend(fontsize=6, loc="upper left")
    table = report.table.filter(pl.col("resolved") > 0)
    labels = table["group"].to_list()
    rates = [r if r is not None else 0.0 for r in table["hit_rate"].to_list()]
    colors = ["black" if g.startswith("fused") else "tab:blue" for g in labels]
    hits_ax.barh(labels, rates, color=colors)
    hits_ax.axvline(0.5, color="grey", linestyle=":")
    for i, (rate, n) in enumerate(zip(rates, table["resolved"].to_list(), strict=True)):
        hits_ax.text(rate + 0.01, i, f"{rate:.0%} (n={n})", va="center", fontsize=6)
    hits_ax.set_xlim(0, 1)
    hits_ax.set_xlabel("hit rate")
    hits_ax.set_title("Hit rate per source and for the fused score")
    hits_ax.tick_params(axis="y", labelsize=6)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
