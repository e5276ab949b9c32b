"""The per-stage batch costs: every stage timed, the rest is what is left, a stage's parts
beneath it and not counted twice, timers removed."""

from __future__ import annotations

import pytest

from benchmarks.step_costs import PARTS, REST, TIMED, cost_table, per_batch_costs, timed_stages


def test_every_stage_of_the_full_flow_is_timed_and_the_parts_add_up() -> None:
    report = per_batch_costs(batch_size=100, stage="full", repeat=1, bars=300)
    costs = report["us_per_batch"]
    assert report["batches"] == 12  # 300 bars x 4 trades in batches of 100
    assert {label for label, _, _ in TIMED} <= costs.keys()
    assert all(costs[label] > 0 for label, _, _ in TIMED)
    stages = sum(
        value
        for label, value in costs.items()
        if label != "whole batch" and label not in report["parts"]
    )
    assert stages == pytest.approx(costs["whole batch"])
    assert costs[REST] > 0


def test_the_learner_and_its_river_calls_are_parts_of_the_signal_engine() -> None:
    report = per_batch_costs(batch_size=50_000, stage="signals", repeat=1, bars=3_000)
    costs, parts = report["us_per_batch"], report["parts"]
    learner, river = "the online learner", "river learn_one + predict_proba_one"
    assert parts == {learner: "signal engine", river: "signal engine"}
    # 3,000 bars: 200 15m, 50 1h and 12 4h closes, the learner's horizon behind them
    assert 0 < costs[river] < costs[learner] < costs["signal engine"]
    rows = list(cost_table(report, repeat=1).columns[0].cells)
    assert rows.index(f"  of which {learner}") == rows.index("signal engine") + 1


def test_the_features_stage_times_no_signal_engine_fusion_or_trading_core() -> None:
    costs = per_batch_costs(batch_size=400, stage="features", repeat=1, bars=300)["us_per_batch"]
    assert {"signal engine", "fusion", "trading core"}.isdisjoint(costs)
    assert costs["candle cores"] > 0 and costs["trade validation"] > 0


def test_the_timers_are_removed_afterwards_even_after_an_error() -> None:
    timed = [*((cls, name) for _, cls, name in TIMED), *((c, n) for _, _, c, n in PARTS)]
    before = [cls.__dict__[name] for cls, name in timed]
    with pytest.raises(RuntimeError), timed_stages():
        assert all(
            cls.__dict__[name] is not b for (cls, name), b in zip(timed, before, strict=True)
        )
        raise RuntimeError("a failing run")
    assert [cls.__dict__[name] for cls, name in timed] == before
