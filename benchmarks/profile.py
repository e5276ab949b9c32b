"""Where the full flow spends its time: a pyinstrument profile of one run on the BTC month.

    python -m benchmarks.profile [--stage full] [--per-bar 4] [--bars N] [--batch-size 50000]
                                 [--html out.html]

Runs the same flow as the throughput figures (derived trades, one worker, warmed up first) under
pyinstrument's sampling profiler and prints the call tree of the slow frames.
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # per-core, as the other figures

import argparse
from pathlib import Path

from pyinstrument import Profiler

from benchmarks.flow_runs import STAGES, run_flow, warm_up
from benchmarks.workloads import derived_trades


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", choices=STAGES, default="full")
    parser.add_argument("--per-bar", type=int, default=4, help="derived trades per 1m bar")
    parser.add_argument("--bars", type=int, default=None, help="limit the bars used")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=50_000,
        help="trades per replay batch (about 150: the 100k/s latency run's batches)",
    )
    parser.add_argument("--interval", type=float, default=0.0005, help="sampling interval, s")
    parser.add_argument("--html", type=Path, help="also write the interactive HTML profile")
    args = parser.parse_args(argv)

    workload = derived_trades(1, args.per_bar, args.bars)
    loaded = workload.to_loaded()
    warm_up([derived_trades(1, args.per_bar, 300).to_loaded()])
    profiler = Profiler(interval=args.interval)
    profiler.start()
    run = run_flow([loaded], stage=args.stage, batch_size=args.batch_size)
    profiler.stop()
    print(
        f"{workload.description}: {workload.total_trades:,} trades in batches of "
        f"{args.batch_size:,}, stage {args.stage}, "
        f"{run.seconds:.3f} s under the profiler ({workload.total_trades / run.seconds:,.0f}/s)"
    )
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        args.html.write_text(profiler.output_html())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
