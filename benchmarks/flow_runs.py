"""One timed run of the Quorum flow over in-memory inputs, as the CLI would run it.

:func:`run_flow` builds the real flow (:func:`flows.pipeline.build_flow`, the shipped
configuration) over a :class:`~connectors.replay.ReplaySource`, optionally with the SQLite
store sink or Bytewax recovery, and times ``run_main`` alone: loading the data and building the
flow are not counted, nor is tuning the garbage collector as the CLI does
(:mod:`flows.runtime_gc`); the compiled kernels are loaded by a warm-up run before anything is
timed (:func:`warm_up`).

>>> from benchmarks.workloads import derived_trades
>>> run = run_flow([derived_trades(1, bars_limit=30).to_loaded()], stage="features")
>>> run.counters["candles:1m"], run.seconds > 0
(30, True)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bytewax.recovery import RecoveryConfig
from bytewax.testing import run_main

from connectors.files import LoadedFile
from connectors.replay import ReplaySource
from flows.config import QuorumConfig, load_config
from flows.pipeline import FlowOutputs, Stage, build_flow
from flows.runtime_gc import tuned_gc
from flows.summary import RunStats

STAGES: tuple[Stage, ...] = ("features", "signals", "full")
"""Where a run may stop: candles + indicators, + signals and fusion, the whole flow."""


@dataclass(frozen=True)
class FlowRun:
    """What one run took and produced."""

    seconds: float
    counters: dict[str, int] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    """CPU time of the process during ``run_main``: steadier than wall time on a busy machine."""

    def candles(self) -> int:
        """Candles built, every timeframe."""
        return sum(v for k, v in self.counters.items() if k.startswith("candles:"))


def store_sink(directory: Path) -> Any:
    """A store sink writing to a fresh SQLite file in ``directory`` (as ``--store`` does)."""
    from connectors.store.engine import open_store
    from connectors.store.market import start_run
    from connectors.store.sink import StoreSink, StoreWriter

    url = str(directory / "bench.sqlite")
    engine = open_store(url)
    run_id = start_run(engine, "bench", {"stage": "bench"})
    engine.dispose()
    return StoreSink(url, StoreWriter(run_id))


def new_recovery_dir(directory: Path) -> Path:
    """A fresh Bytewax recovery directory with one partition (``python -m bytewax.recovery``)."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "bytewax.recovery", str(directory), "1"],
        check=True,
        capture_output=True,
    )
    return directory


def run_flow(
    inputs: Sequence[LoadedFile],
    *,
    stage: Stage,
    batch_size: int = 50_000,
    store: bool = False,
    recovery_dir: Path | None = None,
    collect: Callable[[list[Any]], None] | None = None,
    config: QuorumConfig | None = None,
    source: Any | None = None,
) -> FlowRun:
    """Run the flow once over ``inputs`` (or a given ``source``) and time ``run_main``."""
    config = config or load_config()
    stats = RunStats()
    source = source or ReplaySource(inputs, batch_size=batch_size)
    with tempfile.TemporaryDirectory(prefix="quorum-bench-") as scratch:
        sink = store_sink(Path(scratch)) if store else None
        outputs = FlowOutputs(store=sink, collect=collect, stats=stats)
        flow = build_flow(source, config=config, outputs=outputs, stage=stage)
        recovery = RecoveryConfig(str(recovery_dir)) if recovery_dir is not None else None
        with tuned_gc(config.gc):  # as the CLI runs a flow; QUORUM_GC_TUNE=0 to compare
            start, cpu_start = time.perf_counter(), time.process_time()
            run_main(flow, recovery_config=recovery)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return FlowRun(seconds, dict(stats.counters), cpu)


def warm_up(inputs: Sequence[LoadedFile]) -> None:
    """Run the whole flow once over ``inputs`` so compiled kernels and lazy imports are loaded."""
    run_flow(inputs, stage="full")
