"""1 worker against 2: the same workload through the whole flow on one process, then on a
two-process Bytewax cluster (one worker each: threads of one process share the GIL).

The workload is ``symbols`` derived-trade series (:func:`~benchmarks.workloads.
derived_trades`), replayed in one partition per worker, traded by two portfolios that split
the symbols (so the trading core, keyed by portfolio, is spread too). Each process runs as
``python -m benchmarks.workers SPEC`` (SPEC is JSON), warms up, waits at a file barrier for
its peers, then times the flow alone (wall and CPU) and prints one JSON object on its last
line. The figure is the slowest process's time; the ratio 1-worker / 2-worker time is
reported, never asserted (the aim on 2 free cores is 1.7×).

>>> two_portfolios(("A", "B", "C"))["portfolios"][1]
{'id': 'half-2', 'assets': ['B']}
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

STAGE = "full"


def two_portfolios(symbols: tuple[str, ...]) -> dict[str, Any]:
    """Configuration overrides: two portfolios, every other symbol each."""
    halves = [list(symbols[0::2]), list(symbols[1::2])]
    return {
        "portfolios": [
            {"id": f"half-{i + 1}", "assets": assets} for i, assets in enumerate(halves) if assets
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


def run_process(spec: dict[str, Any]) -> dict[str, Any]:
    """This process's share of one measurement (see the module docstring)."""
    from bytewax.testing import cluster_main, run_main

    from benchmarks.flow_runs import warm_up
    from benchmarks.scale import batch_size_for
    from benchmarks.workloads import derived_trades
    from connectors.replay import ReplaySource
    from flows.config import load_config
    from flows.pipeline import FlowOutputs, build_flow
    from flows.runner import with_known_assets
    from flows.runtime_gc import tuned_gc
    from flows.summary import RunStats

    processes, process_id = spec["processes"], spec["process_id"]
    workload = derived_trades(spec["symbols"], spec["per_bar"], spec["bars"])
    loaded = workload.to_loaded()
    config = load_config(None, two_portfolios(workload.symbols))
    warm_up([derived_trades(1, spec["per_bar"], 300).to_loaded()])
    source = ReplaySource(
        [loaded], partitions=processes, batch_size=batch_size_for(spec["symbols"])
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
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "process_id": process_id,
        "seconds": seconds,
        "cpu_seconds": cpu,
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
        "cpu_seconds": sum(r["cpu_seconds"] for r in results),
        "trades": results[0]["trades"],
        "per_s": results[0]["trades"] / max(r["seconds"] for r in results),
        # each process counts what its workers saw: the sum is the run's
        "fused_signals": sum(r["fused_signals"] for r in results),
        "data": results[0]["data"],
    }


def compare(symbols: int, bars: int, per_bar: int = 4, repeat: int = 1) -> dict[str, Any]:
    """1 worker, then 2 (one per process), ``repeat`` times each; the median run of each."""
    base = {"symbols": symbols, "bars": bars, "per_bar": per_bar}
    one = sorted((_measure(1, base) for _ in range(repeat)), key=lambda r: r["seconds"])
    two = sorted((_measure(2, base) for _ in range(repeat)), key=lambda r: r["seconds"])
    one_run, two_run = one[len(one) // 2], two[len(two) // 2]
    return {
        "data": one_run["data"],
        "stage": STAGE,
        "portfolios": 2,
        "one_worker": one_run,
        "two_workers": two_run,
        "speed_up": one_run["seconds"] / two_run["seconds"],
        "aim": 1.7,
    }


if __name__ == "__main__":
    print(json.dumps(run_process(json.loads(sys.argv[1]))))
