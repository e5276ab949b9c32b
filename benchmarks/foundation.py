"""First benchmark: trades/s per core through replay → validation → candles (1m … 4h) →
indicators, next to the polars + TA-Lib vectorized pass over the same trades, in the same run.

    python -m benchmarks.foundation [--symbols 1] [--repeat 3] [--batch-size 50000]

Data: trades derived from the real BTC perpetual 1-minute bars (see benchmarks.workloads).
One Bytewax worker (one core); polars is limited to one thread for a per-core comparison.
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # per-core comparison: before polars loads

import argparse
import statistics
import time
from pathlib import Path

import polars as pl
from bytewax.testing import run_main
from rich.console import Console
from rich.table import Table

from benchmarks.baseline import vectorized_pass
from benchmarks.workloads import TradeWorkload, derived_trades
from connectors.files.loaders import LoadedTrades
from connectors.replay import ReplaySource
from flows.config import load_config
from flows.pipeline import FlowOutputs, build_flow
from flows.summary import RunStats


def loaded_trades(workload: TradeWorkload) -> LoadedTrades:
    frame = (
        workload.to_frame()
        .with_columns(
            pl.col("ts_ns").cast(pl.Int64),
            pl.Series("trade_id", list(workload.trade_id) * len(workload.symbols), dtype=pl.Int64),
            pl.lit(0, dtype=pl.Int8).alias("side"),
        )
        .select("symbol", "ts_ns", "price", "amount", "trade_id", "side")
    )
    return LoadedTrades(Path("derived.parquet"), frame, [], frame.height)


def time_flow(workload: TradeWorkload, batch_size: int) -> tuple[float, RunStats]:
    loaded = loaded_trades(workload)
    stats = RunStats()
    source = ReplaySource([loaded], batch_size=batch_size)
    flow = build_flow(
        source, config=load_config(), outputs=FlowOutputs(stats=stats), stage="features"
    )
    start = time.perf_counter()
    run_main(flow)
    return time.perf_counter() - start, stats


def time_baseline(workload: TradeWorkload) -> float:
    frame = workload.to_frame()
    start = time.perf_counter()
    vectorized_pass(frame)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--per-bar", type=int, default=4)
    parser.add_argument("--bars", type=int, default=None, help="limit the bars used (smoke)")
    args = parser.parse_args(argv)

    console = Console()
    workload = derived_trades(args.symbols, args.per_bar, args.bars)
    console.print(f"data: {workload.description}; {workload.total_trades:,} trades")
    flow_times, base_times = [], []
    stats = RunStats()
    for _ in range(args.repeat):
        elapsed, stats = time_flow(workload, args.batch_size)
        flow_times.append(elapsed)
        base_times.append(time_baseline(workload))
    flow_s, base_s = statistics.median(flow_times), statistics.median(base_times)
    table = Table(title=f"trades/s per core (median of {args.repeat} runs)")
    table.add_column("pipeline")
    table.add_column("median s", justify="right")
    table.add_column("trades/s", justify="right")
    table.add_row(
        "Quorum flow: replay → validate → candles 1m…4h → 16 indicators",
        f"{flow_s:.3f}",
        f"{workload.total_trades / flow_s:,.0f}",
    )
    table.add_row(
        "polars + TA-Lib vectorized pass (1 thread)",
        f"{base_s:.3f}",
        f"{workload.total_trades / base_s:,.0f}",
    )
    console.print(table)
    console.print(
        f"ratio Quorum / vectorized: {base_s / flow_s:.2f} "
        f"(candles built: {sum(stats.group('candles').values()):,})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
