"""The per-stage batch costs: every stage timed, the rest is what is left, timers removed."""

from __future__ import annotations

import pytest

from benchmarks.step_costs import REST, TIMED, per_batch_costs, timed_stages


def test_every_stage_of_the_full_flow_is_timed_and_the_parts_add_up() -> None:
    report = per_batch_costs(batch_size=100, stage="full", repeat=1, bars=300)
    costs = report["us_per_batch"]
    assert report["batches"] == 12  # 300 bars x 4 trades in batches of 100
    assert {label for label, _, _ in TIMED} <= costs.keys()
    assert all(costs[label] > 0 for label, _, _ in TIMED)
    parts = sum(value for label, value in costs.items() if label != "whole batch")
    assert parts == pytest.approx(costs["whole batch"])
    assert costs[REST] > 0


def test_the_features_stage_times_no_signal_engine_fusion_or_trading_core() -> None:
    costs = per_batch_costs(batch_size=400, stage="features", repeat=1, bars=300)["us_per_batch"]
    assert {"signal engine", "fusion", "trading core"}.isdisjoint(costs)
    assert costs["candle cores"] > 0 and costs["trade validation"] > 0


def test_the_timers_are_removed_afterwards_even_after_an_error() -> None:
    before = [cls.__dict__[name] for _, cls, name in TIMED]
    with pytest.raises(RuntimeError), timed_stages():
        assert [cls.__dict__[name] for _, cls, name in TIMED] != before
        raise RuntimeError("a failing run")
    assert [cls.__dict__[name] for _, cls, name in TIMED] == before
