"""Targets are judged from a report; state sizes are read from a real recovery directory."""

from __future__ import annotations

import pytest

from benchmarks.flow_runs import new_recovery_dir, run_flow
from benchmarks.memory import label_of, per_symbol_bytes, state_sizes
from benchmarks.targets import evaluate_targets
from benchmarks.workloads import derived_trades


def report(full: float, p99: float, state: float, nautilus: float) -> dict:
    return {
        "throughput": [
            {"stage": "features", "store": False, "per_s": 3e6},
            {"stage": "full", "store": True, "per_s": 1.0},  # the store row does not count
            {"stage": "full", "store": False, "per_s": full},
        ],
        "latency": [
            {"stage": s, "record": "fused signal", "offered_trades_per_s": 20_000.0, "p99_ms": p99}
            for s in ("signals", "full")
        ],
        "scale": [{"state_bytes_per_symbol": state / 2}, {"state_bytes_per_symbol": state}],
        "nautilus": {"trades": {"per_s": 3e6 / nautilus}},
    }


def test_targets_met_and_missed() -> None:
    met = evaluate_targets(report(2.5e6, 1.5, 60_000, 12.0))
    assert [row["status"] for row in met] == ["met"] * 6
    missed = evaluate_targets(report(5e5, 4.0, 131_072, 5.0))
    assert [row["status"] for row in missed] == [
        "missed (0.50× the target)",
        "missed (0.25× the target)",
        "missed (2.00× the target)",
        "missed (2.00× the target)",
        "missed (2.00× the target)",
        "missed (0.50× the target)",
    ]
    assert missed[4]["measured"] == 131_072 and missed[5]["measured"] == pytest.approx(5.0)


def test_state_sizes_come_from_the_snapshots_bytewax_wrote(tmp_path) -> None:
    recovery = new_recovery_dir(tmp_path / "recovery")
    workload = derived_trades(2, 4, 200)
    run_flow([workload.to_loaded()], stage="full", recovery_dir=recovery)
    states = {s.step: s for s in state_sizes(recovery)}
    assert {
        "validate_trades",
        "candles",
        "features",
        "signals",
        "fusion",
        "trading",
    } <= states.keys()
    assert states["features"].keys == 2 and not states["features"].shared
    assert states["trading"].keys == 1 and states["trading"].shared
    own = sum(s.mean_bytes for s in states.values() if not s.shared)
    shared = states["trading"].mean_bytes / 2
    assert per_symbol_bytes(list(states.values()), symbols=2) == pytest.approx(own + shared)
    assert label_of("quorum.signals.engine") == "signals"
