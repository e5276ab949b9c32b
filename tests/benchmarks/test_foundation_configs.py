"""The foundation benchmark's ``--config``: a file overlaid on the shipped configuration, run
alternately with it; a file that does not load stops it with the configuration's message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks import foundation
from benchmarks.flow_runs import FlowRun, run_flow
from benchmarks.workloads import derived_trades
from flows.config import QuorumConfig, load_config
from operators.signals.online import OnlineDirectionLearner
from schemas.signals import Signal

LEARNER_OFF = Path(foundation.__file__).parent / "configs" / "online_learner_off.yaml"


def test_the_shipped_learner_off_file_only_switches_the_learner_off() -> None:
    shipped, off = load_config(), load_config(LEARNER_OFF)
    assert any(isinstance(g, OnlineDirectionLearner) for g in shipped.signals.build_generators())
    assert not any(isinstance(g, OnlineDirectionLearner) for g in off.signals.build_generators())
    assert off.model_dump(exclude={"signals"}) == shipped.model_dump(exclude={"signals"})
    loaded = derived_trades(1, 4, 6_000).to_loaded()
    signals: dict[str, set[str]] = {}
    for name, config in (("shipped", shipped), ("off", off)):
        found: list[object] = []
        run_flow([loaded], stage="signals", config=config, collect=found.extend)
        signals[name] = {s.origin for s in found if isinstance(s, Signal)}
    assert "ml:online" in signals["shipped"] and "ml:online" not in signals["off"]


def test_every_configuration_is_run_alternately_and_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    order: list[bool] = []
    real = foundation.run_flow

    def recording(*args: Any, config: QuorumConfig, **kwargs: Any) -> FlowRun:
        order.append(config.signals.online.enabled)
        return real(*args, config=config, **kwargs)

    monkeypatch.setattr(foundation, "run_flow", recording)
    argv = ["--bars", "300", "--repeat", "2", "--stage", "signals", "--config", str(LEARNER_OFF)]
    assert foundation.main(argv) == 0
    assert order == [True, False, True, False]
    out = " ".join(capsys.readouterr().out.split())
    assert "(shipped configuration)" in out and "online_learner_off" in out


def test_a_configuration_that_does_not_load_stops_the_benchmark_naming_field_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("signals:\n  online:\n    horizon: 0\n")
    with pytest.raises(SystemExit) as stop:
        foundation.main(["--bars", "300", "--repeat", "1", "--config", str(bad)])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert str(bad) in error and "signals.online.horizon" in error and "got 0" in error
