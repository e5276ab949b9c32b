"""One scale point, run in its own process: N symbols through the flow, timed and weighed.

The harness starts ``python -m benchmarks.scale SPEC`` once per symbol count so that each
point's peak resident set size is its own (``getrusage`` reports a process's peak) and memory
from one point never lingers into the next. The child prints one JSON object on its last line.

``SPEC`` is JSON: ``{"symbols": N, "bars": B, "per_bar": 4, "stages": [...], "repeat": R,
"batch_size": S}``. For each stage the flow runs ``repeat`` times (after a warm-up run); then
one more run of the whole flow with Bytewax recovery enabled gives the state per symbol
(:mod:`.memory`). Each run's own peak RSS is kept (the high-water mark is reset before it);
the point's peak is the largest, with the process after loading the data.

>>> batch_size_for(1), batch_size_for(2_000)
(50000, 1000000)
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.flow_runs import new_recovery_dir, run_flow, warm_up
from benchmarks.memory import peak_rss_bytes, per_symbol_bytes, reset_peak_rss, state_sizes
from benchmarks.stats import summarize
from benchmarks.workloads import derived_trades

ROWS_PER_SYMBOL_BATCH = 500
"""Source batch: about this many trades per symbol (the default 50,000 rows is the floor)."""


def batch_size_for(symbols: int) -> int:
    """Rows per source batch for ``symbols`` symbols: per-symbol batches stay ~500 trades."""
    return max(50_000, ROWS_PER_SYMBOL_BATCH * symbols)


def run_point(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure one scale point in this process (see the module docstring)."""
    workload = derived_trades(spec["symbols"], spec.get("per_bar", 4), spec["bars"])
    loaded = workload.to_loaded()
    batch_size = spec.get("batch_size") or batch_size_for(spec["symbols"])
    rss_before = peak_rss_bytes()
    peaks: dict[str, int] = {}

    def weighed(label: str, run: Callable[[], Any]) -> Any:
        reset_peak_rss()
        result = run()
        peaks[label] = max(peaks.get(label, 0), peak_rss_bytes())
        return result

    weighed(
        "warm-up", lambda: warm_up([derived_trades(1, spec.get("per_bar", 4), 300).to_loaded()])
    )
    stages = {}
    for stage in spec["stages"]:
        runs = [
            weighed(
                stage, lambda stage=stage: run_flow([loaded], stage=stage, batch_size=batch_size)
            )
            for _ in range(spec.get("repeat", 1))
        ]
        stages[stage] = summarize(runs, workload.total_trades)
    with tempfile.TemporaryDirectory(prefix="quorum-bench-state-") as scratch:
        recovery = new_recovery_dir(Path(scratch) / "recovery")
        weighed(
            "full with recovery",
            lambda: run_flow([loaded], stage="full", batch_size=batch_size, recovery_dir=recovery),
        )
        states = state_sizes(recovery)
    return {
        "data": workload.description,
        "symbols": spec["symbols"],
        "bars_per_symbol": spec["bars"],
        "trades": workload.total_trades,
        "batch_size": batch_size,
        "stages": stages,
        "state_by_step": [vars(s) for s in states],
        "state_bytes_per_symbol": per_symbol_bytes(states, spec["symbols"]),
        "peak_rss_bytes": max(rss_before, *peaks.values()),
        "peak_rss_by_run": peaks,
        "rss_before_flows_bytes": rss_before,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m benchmarks.scale SPEC_JSON", file=sys.stderr)
        return 2
    print(json.dumps(run_point(json.loads(args[0]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
