"""Summaries of repeated runs: every figure is the median of several runs.

>>> from benchmarks.flow_runs import FlowRun
>>> runs = [FlowRun(2.0, {"candles:1m": 10}), FlowRun(1.0, {"candles:1m": 10}),
...         FlowRun(4.0, {"candles:1m": 10})]
>>> summary = summarize(runs, items=1_000)
>>> summary["median_s"], summary["per_s"], summary["candles_per_s"]
(2.0, 500.0, 5.0)
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from benchmarks.flow_runs import FlowRun


def summarize(runs: Sequence[FlowRun], items: int) -> dict[str, Any]:
    """Median seconds of ``runs`` over ``items`` inputs, the rate, and the candles built."""
    seconds = [run.seconds for run in runs]
    median = statistics.median(seconds)
    candles = runs[-1].candles()
    return {
        "runs_s": [round(s, 6) for s in seconds],
        "median_s": median,
        "items": items,
        "per_s": items / median,
        "candles": candles,
        "candles_per_s": candles / median,
        "counters": runs[-1].counters,
    }


def median_seconds(seconds: Sequence[float]) -> float:
    """The median of timings (a figure is never a single run unless asked for)."""
    return float(statistics.median(seconds))
