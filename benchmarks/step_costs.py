"""Where a replay batch's time goes, stage by stage, at a given batch size.

    python -m benchmarks.step_costs [--batch-size 100] [--stage full] [--repeat 3] [--bars N]

The throughput figures feed the flow batches of 50,000 trades; the latency figure at 100k
trades/s sees batches of about 150 (its "trades/batch" column; 4 trades per bar), and a live
feed one bar at a time. What a batch costs there is the sum of every stage's fixed cost, so
this tool times each stage's batch logic with ``perf_counter_ns`` around its call — trade
validation, the candle cores (trades → candles, the roll-ups), the indicator banks, the signal
engine, fusion and the trading core — and reports microseconds per replay batch (one symbol:
the replay cuts the derived trades into batches of exactly ``--batch-size``). "Bytewax and
light steps" is the rest of ``run_main``: the runtime, routing, splits and the outputs. The
timers add about 0.4 µs per timed call; the figures are medians over ``--repeat`` runs.
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # per-core, as the other figures

import argparse
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.flow_runs import STAGES, run_flow, warm_up
from benchmarks.workloads import derived_trades
from operators.candles.ops import _CoreLogic
from operators.execution.operator import TradingLogic
from operators.features import SymbolFeatures
from operators.fusion.operators import _FusionLogic
from operators.signals.operators import _EngineLogic
from operators.validation.trades import TradeValidator

TIMED: tuple[tuple[str, type, str], ...] = (
    ("trade validation", TradeValidator, "validate"),
    ("candle cores", _CoreLogic, "on_batch"),
    ("indicators", SymbolFeatures, "update"),
    ("signal engine", _EngineLogic, "on_batch"),
    ("fusion", _FusionLogic, "on_batch"),
    ("trading core", TradingLogic, "on_batch"),
)
"""(label, class, method): the stages timed, each the one call a stage makes per batch."""

REST = "Bytewax and light steps"


@contextmanager
def timed_stages() -> Iterator[Counter[str]]:
    """Within the block, nanoseconds spent in each stage of :data:`TIMED` add up in the
    yielded counter; the methods are restored afterwards."""
    spent: Counter[str] = Counter()
    originals = [(cls, name, cls.__dict__[name]) for _, cls, name in TIMED]
    for label, cls, name in TIMED:
        setattr(cls, name, _timer(cls.__dict__[name], label, spent))
    try:
        yield spent
    finally:
        for cls, name, original in originals:
            setattr(cls, name, original)


def _timer(method: Callable[..., Any], label: str, spent: Counter[str]) -> Callable[..., Any]:
    clock = time.perf_counter_ns

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            return method(*args, **kwargs)
        finally:
            spent[label] += clock() - start

    return timed


def per_batch_costs(
    *, batch_size: int, stage: str = "full", repeat: int = 3, bars: int | None = None
) -> dict[str, Any]:
    """Median microseconds per replay batch of every timed stage and of the rest, over
    ``repeat`` runs of ``stage`` on the BTC month's derived trades (4 per bar)."""
    workload = derived_trades(1, 4, bars)
    loaded = workload.to_loaded()
    warm_up([derived_trades(1, 4, 300).to_loaded()])
    batches = math.ceil(workload.total_trades / batch_size)
    runs: list[dict[str, float]] = []
    for _ in range(repeat):
        with timed_stages() as spent:
            run = run_flow([loaded], stage=stage, batch_size=batch_size)  # type: ignore[arg-type]
        costs = {label: spent[label] / 1e3 / batches for label, _, _ in TIMED if label in spent}
        costs[REST] = max(run.seconds * 1e6 / batches - sum(costs.values()), 0.0)
        costs["whole batch"] = run.seconds * 1e6 / batches
        runs.append(costs)
    labels = list(runs[0])
    return {
        "batch_size": batch_size,
        "stage": stage,
        "batches": batches,
        "runs": repeat,
        "us_per_batch": {k: statistics.median(r.get(k, 0.0) for r in runs) for k in labels},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=100, help="trades per replay batch")
    parser.add_argument("--stage", choices=STAGES, default="full")
    parser.add_argument("--repeat", type=int, default=3, help="runs (the median is reported)")
    parser.add_argument("--bars", type=int, default=None, help="limit the bars used")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    report = per_batch_costs(
        batch_size=args.batch_size, stage=args.stage, repeat=args.repeat, bars=args.bars
    )
    costs = report["us_per_batch"]
    whole = costs["whole batch"]
    table = Table(
        title=f"µs per replay batch of {args.batch_size:,} trades, {report['batches']:,} "
        f"batches, stage {args.stage} (median of {args.repeat} runs)"
    )
    table.add_column("stage")
    table.add_column("µs per batch", justify="right")
    table.add_column("share", justify="right")
    for label, value in sorted(costs.items(), key=lambda kv: -kv[1]):
        if label != "whole batch":
            table.add_row(label, f"{value:,.0f}", f"{value / whole:.0%}")
    table.add_row("whole batch", f"{whole:,.0f}", "100%")
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
