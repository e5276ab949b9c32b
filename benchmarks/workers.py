"""1 worker against 2: the same workload through the whole flow on one process, then on a
two-process Bytewax cluster (one worker each: threads of one process share the GIL).

The workload is ``symbols`` derived-trade series (:func:`~benchmarks.workloads.
derived_trades`), replayed in one partition per worker, traded by two portfolios that split
the symbols (so the trading core, keyed by portfolio, is spread too). Both are placed as a
deployment would place them (:mod:`operators.placement`): the replay reads a symbol on the
worker that keeps its state, and each portfolio is named to land on its own worker and given
the symbols of that worker, so every keyed step keeps its items on the worker that read them.
The split is what the hash gives (6 and 4 of the 10 default symbols): with the larger share
setting the time, 10/6 = 1.67× (``balance_bound``; smaller per-worker state can do better).
Each process runs as ``python -m benchmarks.workers SPEC`` (SPEC is JSON), warms up, waits at
a file barrier for its peers, then times the flow alone (wall and CPU) and prints one JSON
object on its last line. The figure is the slowest process's flow time, from its source
partitions being built (the cluster connected) to the end (``with_start_up_seconds`` counts
from calling Bytewax); the ratio 1-worker / 2-worker time is reported, never asserted (the aim
on 2 free cores is 1.7×).

>>> portfolios_by_worker(("BTC/USDT", "XRP/USDT", "ETH/USDT"))["portfolios"]
[{'id': 'half-1', 'assets': ['XRP/USDT']}, {'id': 'half-3', 'assets': ['BTC/USDT', 'ETH/USDT']}]
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from operators.placement import keys_per_worker, portfolio_ids_per_worker

STAGE = "full"


def portfolios_by_worker(symbols: tuple[str, ...], workers: int = 2) -> dict[str, Any]:
    """Configuration overrides: one portfolio per worker, holding the symbols of its worker."""
    ids = portfolio_ids_per_worker("half", workers)
    groups = keys_per_worker(symbols, workers)
    return {
        "portfolios": [
            {"id": book, "assets": assets}
            for book, assets in zip(ids, groups, strict=True)
            if assets
        ]
    }


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _wait_for_peers(barrier: Path, process_id: int, processes: int) -> None:
    (barrier / f"ready-{process_id}").touch()
    deadline = time.monotonic() + 600
    while len(list(barrier.glob("ready-*"))) < processes:
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark peers never became ready in {barrier}")
        time.sleep(0.01)


class _FlowClock:
    """Wall and CPU time when the flow's first source partition is built: after the cluster's
    processes have connected (timely retries a refused connection after a second, so a peer
    that listens a moment late costs a whole second of start-up, not of flow)."""

    def __init__(self) -> None:
        self.started: tuple[float, float] | None = None

    def stamp(self) -> None:
        if self.started is None:
            self.started = (time.perf_counter(), time.process_time())


def _stamped_replay(clock: _FlowClock, *args: Any, **kwargs: Any) -> Any:
    from connectors.replay import ReplaySource

    class _StampedReplay(ReplaySource):
        def build_part(self, step_id: str, for_part: str, resume_state: Any) -> Any:
            clock.stamp()
            return super().build_part(step_id, for_part, resume_state)

    return _StampedReplay(*args, **kwargs)


def run_process(spec: dict[str, Any]) -> dict[str, Any]:
    """This process's share of one measurement (see the module docstring)."""
    from bytewax.testing import cluster_main, run_main

    from benchmarks.flow_runs import warm_up
    from benchmarks.scale import batch_size_for
    from benchmarks.workloads import derived_trades
    from flows.config import load_config
    from flows.pipeline import FlowOutputs, build_flow
    from flows.runner import with_known_assets
    from flows.runtime_gc import tuned_gc
    from flows.summary import RunStats

    processes, process_id = spec["processes"], spec["process_id"]
    workload = derived_trades(spec["symbols"], spec["per_bar"], spec["bars"])
    loaded = workload.to_loaded()
    config = load_config(None, portfolios_by_worker(workload.symbols))
    warm_up([derived_trades(1, spec["per_bar"], 300).to_loaded()])
    clock = _FlowClock()
    source = _stamped_replay(
        clock, [loaded], partitions=processes, batch_size=batch_size_for(spec["symbols"])
    )
    config = with_known_assets(config, source.symbols)
    stats = RunStats()
    flow = build_flow(source, config=config, outputs=FlowOutputs(stats=stats), stage=STAGE)
    _wait_for_peers(Path(spec["barrier"]), process_id, processes)
    with tuned_gc(config.gc):
        start, cpu_start = time.perf_counter(), time.process_time()
        if processes == 1:
            run_main(flow)
        else:
            cluster_main(flow, spec["addresses"], process_id)
        end, cpu_end = time.perf_counter(), time.process_time()
    flow_start, flow_cpu_start = clock.started or (start, cpu_start)
    return {
        "process_id": process_id,
        "seconds": end - flow_start,
        "cpu_seconds": cpu_end - flow_cpu_start,
        "with_start_up_seconds": end - start,
        "trades": workload.total_trades,
        "fused_signals": sum(v for k, v in stats.counters.items() if k.startswith("decisions:")),
        "data": workload.description,
    }


def _measure(processes: int, base: dict[str, Any]) -> dict[str, Any]:
    """One run on ``processes`` processes: the slowest one's time, every one's CPU."""
    addresses = [f"127.0.0.1:{port}" for port in _free_ports(processes)]
    with tempfile.TemporaryDirectory(prefix="quorum-bench-workers-") as barrier:
        children = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.workers",
                    json.dumps(
                        {
                            **base,
                            "processes": processes,
                            "process_id": i,
                            "addresses": addresses,
                            "barrier": barrier,
                        }
                    ),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(processes)
        ]
        results = []
        for child in children:
            out, err = child.communicate(timeout=3600)
            if child.returncode != 0:
                raise RuntimeError(f"workers benchmark process failed:\n{err[-4000:]}")
            results.append(json.loads(out.strip().splitlines()[-1]))
    return {
        "workers": processes,
        "seconds": max(r["seconds"] for r in results),
        "with_start_up_seconds": max(r["with_start_up_seconds"] for r in results),
        "cpu_seconds": sum(r["cpu_seconds"] for r in results),
        "trades": results[0]["trades"],
        "per_s": results[0]["trades"] / max(r["seconds"] for r in results),
        # each process counts what its workers saw: the sum is the run's
        "fused_signals": sum(r["fused_signals"] for r in results),
        "data": results[0]["data"],
    }


def compare(symbols: int, bars: int, per_bar: int = 4, repeat: int = 1) -> dict[str, Any]:
    """1 worker, then 2 (one per process), ``repeat`` times each; the median run of each."""
    from benchmarks.workloads import derived_trades

    base = {"symbols": symbols, "bars": bars, "per_bar": per_bar}
    one = sorted((_measure(1, base) for _ in range(repeat)), key=lambda r: r["seconds"])
    two = sorted((_measure(2, base) for _ in range(repeat)), key=lambda r: r["seconds"])
    one_run, two_run = one[len(one) // 2], two[len(two) // 2]
    per_worker = [len(g) for g in keys_per_worker(derived_trades(symbols, per_bar, 1).symbols, 2)]
    return {
        "data": one_run["data"],
        "stage": STAGE,
        "portfolios": sum(1 for n in per_worker if n),
        "one_worker": one_run,
        "two_workers": two_run,
        "speed_up": one_run["seconds"] / two_run["seconds"],
        "symbols_per_worker": per_worker,
        # the speed-up if the larger share of the symbols set the time and nothing else changed
        "balance_bound": sum(per_worker) / max(per_worker),
        "aim": 1.7,
    }


if __name__ == "__main__":
    print(json.dumps(run_process(json.loads(sys.argv[1]))))
