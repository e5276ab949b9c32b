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

Beneath a stage, "of which" rows time parts of it (:data:`PARTS`): the signal engine's online
learner and, inside it, river's own ``learn_one`` and ``predict_proba_one`` calls. They are
already in their stage's figure, so they are not subtracted again from the rest. The "s per
run" column is a stage's time over the whole input: against the month's budget at a target
rate (180,124 trades at 1M trades/s: 0.180 s) it tells what the rest of the flow has left.
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
from river.compose import Pipeline

from benchmarks.flow_runs import STAGES, run_flow, warm_up
from benchmarks.workloads import derived_trades
from operators.candles.ops import _CoreLogic
from operators.execution.operator import TradingLogic
from operators.features import SymbolFeatures
from operators.fusion.operators import _FusionLogic
from operators.signals.online import OnlineDirectionLearner
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

PARTS: tuple[tuple[str, str, type, str], ...] = (
    ("the online learner", "signal engine", OnlineDirectionLearner, "on_rows"),
    ("the online learner", "signal engine", OnlineDirectionLearner, "on_candle"),
    ("river learn_one + predict_proba_one", "signal engine", Pipeline, "learn_one"),
    ("river learn_one + predict_proba_one", "signal engine", Pipeline, "predict_proba_one"),
)
"""(label, stage, class, method): parts of a stage, shown beneath it ("of which"). The learner
is fed by column (``on_rows``) or row by row (``on_candle``) depending on the release's size;
its river models (the shipped logistic model: a ``StandardScaler | LogisticRegression``
pipeline) learn and predict one candle at a time."""

REST = "Bytewax and light steps"


@contextmanager
def timed_stages() -> Iterator[Counter[str]]:
    """Within the block, nanoseconds spent in each stage of :data:`TIMED` and each part of
    :data:`PARTS` add up in the yielded counter; the methods are restored afterwards."""
    spent: Counter[str] = Counter()
    timed = [*TIMED, *((label, cls, name) for label, _, cls, name in PARTS)]
    originals = [(cls, name, cls.__dict__[name]) for _, cls, name in timed]
    for label, cls, name in timed:
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
    """Median microseconds per replay batch of every timed stage, of the rest and of every
    part of a stage (``parts``: label → its stage), over ``repeat`` runs of ``stage`` on the
    BTC month's derived trades (4 per bar)."""
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
        for label, _, _, _ in PARTS:
            if label in spent:
                costs[label] = spent[label] / 1e3 / batches
        runs.append(costs)
    labels = list(dict.fromkeys(label for r in runs for label in r))
    return {
        "batch_size": batch_size,
        "stage": stage,
        "batches": batches,
        "runs": repeat,
        "us_per_batch": {k: statistics.median(r.get(k, 0.0) for r in runs) for k in labels},
        "parts": {label: parent for label, parent, _, _ in PARTS if label in labels},
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
    Console().print(cost_table(report, repeat=args.repeat))
    return 0


def cost_table(report: dict[str, Any], *, repeat: int) -> Table:
    """The report as a table: stages by cost, each stage's parts beneath it ("of which")."""
    costs, parts, batches = report["us_per_batch"], report["parts"], report["batches"]
    whole = costs["whole batch"]
    table = Table(
        title=f"µs per replay batch of {report['batch_size']:,} trades, {batches:,} "
        f"batches, stage {report['stage']} (median of {repeat} runs)"
    )
    table.add_column("stage")
    table.add_column("µs per batch", justify="right")
    table.add_column("share", justify="right")
    table.add_column("s per run", justify="right")

    def add(label: str, shown: str) -> None:
        value = costs[label]
        table.add_row(
            shown, f"{value:,.0f}", f"{value / whole:.0%}", f"{value * batches / 1e6:.3f}"
        )

    stages = [label for label in costs if label not in parts and label != "whole batch"]
    for label in sorted(stages, key=lambda k: -costs[k]):
        add(label, label)
        for part, parent in parts.items():
            if parent == label:
                add(part, f"  of which {part}")
    add("whole batch", "whole batch")
    return table


if __name__ == "__main__":
    raise SystemExit(main())
