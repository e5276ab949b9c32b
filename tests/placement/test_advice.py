"""Placement advice: what a cluster loses to where the replay's partitions and the portfolios
land, and the warning a multi-process `quorum run` logs at start-up."""

from __future__ import annotations

import logging

import pytest

from flows.config import load_config
from flows.runner import warn_about_placement
from operators.placement import placement_advice, portfolio_ids_per_worker, worker_of_key

CLUSTER = {"processes": ["127.0.0.1:2101", "127.0.0.1:2102"], "process_id": 0}


def test_a_placed_cluster_gets_no_advice() -> None:
    assert placement_advice(1, 1, ["a", "b"]) == []  # one worker: nothing to place
    assert placement_advice(2, 4, portfolio_ids_per_worker("book", 2)) == []
    assert placement_advice(3, 6, ["only"]) == []  # one portfolio cannot spread


def test_partitions_that_are_not_a_multiple_of_the_workers_are_named() -> None:
    (line,) = placement_advice(3, 4, [])
    assert "source.partitions is 4, not a multiple of the 3 workers" in line
    assert "about 2 in 3" in line and line.endswith("set source.partitions to 3")


def test_crowded_portfolios_are_named_with_ids_that_spread() -> None:
    crowded = [f"desk-{n}" for n in range(1, 60) if worker_of_key(f"desk-{n}", 3) == 1][:3]
    (line,) = placement_advice(3, 3, crowded)
    assert f"portfolios {', '.join(crowded)} keep their trading cores on 1 of the 3" in line
    spread = portfolio_ids_per_worker("desk", 3)
    assert ", ".join(spread) in line
    assert placement_advice(3, 3, spread) == []


def test_a_multi_process_run_warns_at_start_up(caplog: pytest.LogCaptureFixture) -> None:
    books = [{"id": i} for i in ("half-1", "half-2")]  # both land on worker 0 of 2
    config = load_config(None, {"cluster": CLUSTER, "portfolios": books})
    with caplog.at_level(logging.WARNING, logger="flows.runner"):
        warn_about_placement(config)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all(line.startswith("placement: ") for line in lines)
    assert "source.partitions is 1" in lines[0] and "half-1, half-2" in lines[1]


def test_threads_of_one_process_are_not_advised(caplog: pytest.LogCaptureFixture) -> None:
    books = [{"id": i} for i in ("half-1", "half-2")]
    config = load_config(None, {"cluster": {"workers": 2}, "portfolios": books})
    with caplog.at_level(logging.WARNING, logger="flows.runner"):
        warn_about_placement(config)
    assert caplog.records == []
