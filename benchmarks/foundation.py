"""First benchmark: trades/s per core through replay → validation → candles (1m … 4h) →
indicators, next to the polars + TA-Lib vectorized pass over the same trades, in the same run.

    python -m benchmarks.foundation [--symbols 1] [--repeat 3] [--batch-size 50000]
                                    [--per-bar 4] [--stage features|signals|full]
                                    [--config FILE ...]

Data: trades derived from the real BTC perpetual 1-minute bars (see benchmarks.workloads).
One Bytewax worker (one core); polars is limited to one thread for a per-core comparison.
The full harness (every stage, scale, latency, memory, NautilusTrader) is ``python -m
benchmarks``; this is its first figure alone, kept for quick before/after comparisons.

``--config FILE`` (repeatable) also runs the flow with ``FILE`` overlaid on the shipped
configuration, as ``quorum run --config FILE`` does, alternately with the shipped one in every
repeat: what a setting costs, measured in the same run (e.g.
``benchmarks/configs/online_learner_off.yaml``).
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # per-core comparison: before polars loads

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.baseline import vectorized_pass
from benchmarks.flow_runs import STAGES, FlowRun, run_flow, warm_up
from benchmarks.stats import median_seconds, summarize
from benchmarks.workloads import derived_trades
from flows.config import ConfigError, QuorumConfig, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--per-bar", type=int, default=4)
    parser.add_argument("--bars", type=int, default=None, help="limit the bars used (smoke)")
    parser.add_argument("--stage", choices=STAGES, default="features", help="where the flow stops")
    parser.add_argument(
        "--config",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="also run with FILE overlaid on the shipped configuration, alternately with it "
        "(repeatable)",
    )
    args = parser.parse_args(argv)
    configs = _configurations(parser, args.config)

    console = Console()
    workload = derived_trades(args.symbols, args.per_bar, args.bars)
    console.print(f"data: {workload.description}; {workload.total_trades:,} trades")
    loaded, frame = workload.to_loaded(), workload.to_frame()
    warm_up([derived_trades(1, args.per_bar, 300).to_loaded()])
    runs: dict[str, list[FlowRun]] = {label: [] for label in configs}
    base_times = []
    for _ in range(args.repeat):
        for label, config in configs.items():
            runs[label].append(
                run_flow([loaded], stage=args.stage, batch_size=args.batch_size, config=config)
            )
        start = time.perf_counter()
        vectorized_pass(frame)
        base_times.append(time.perf_counter() - start)
    base_s = median_seconds(base_times)
    table = Table(title=f"trades/s per core (median of {args.repeat} runs)")
    table.add_column("pipeline")
    table.add_column("median s", justify="right")
    table.add_column("trades/s", justify="right")
    table.add_column("median CPU s", justify="right")
    stops = {
        "features": "replay → validate → candles 1m…4h → indicators",
        "signals": "… → indicators → signal generators → fusion",
        "full": "… → signals → fusion → risk, sizing, paper execution",
    }
    flows = {
        label: summarize(label_runs, workload.total_trades) for label, label_runs in runs.items()
    }
    shown = {label: f" ({label})" if len(configs) > 1 else "" for label in configs}
    for label, flow in flows.items():
        table.add_row(
            f"Quorum flow: {stops[args.stage]}{shown[label]}",
            f"{flow['median_s']:.3f}",
            f"{flow['per_s']:,.0f}",
            f"{median_seconds([run.cpu_seconds for run in runs[label]]):.3f}",
        )
    table.add_row(
        "polars + TA-Lib vectorized pass (1 thread)",
        f"{base_s:.3f}",
        f"{workload.total_trades / base_s:,.0f}",
        "",
    )
    console.print(table)
    for label, flow in flows.items():
        console.print(
            f"ratio Quorum / vectorized{shown[label]}: {base_s / flow['median_s']:.2f} "
            f"(candles built: {flow['candles']:,})"
        )
    return 0


SHIPPED = "shipped configuration"


def _configurations(parser: argparse.ArgumentParser, files: list[Path]) -> dict[str, QuorumConfig]:
    """The shipped configuration and each file overlaid on it, by label; a file that does not
    load stops the benchmark with the configuration's own message (file, field, value)."""
    configs = {SHIPPED: load_config()}
    for path in files:
        try:
            configs[f"with {path.name}"] = load_config(path)
        except ConfigError as exc:
            parser.error(str(exc))
    return configs


if __name__ == "__main__":
    raise SystemExit(main())
