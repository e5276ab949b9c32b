"""The garbage-collector knob: it parses, off leaves the collector alone, on freezes the heap
for the run and gives it back afterwards."""

from __future__ import annotations

import gc

import pytest

from flows.config import ConfigError, load_config
from flows.runtime_gc import GC_ENV, GcSettings, settings_from_env, tune_gc, tuned_gc


@pytest.fixture(autouse=True)
def _collector_as_found(monkeypatch: pytest.MonkeyPatch):
    """Every test starts without the environment override and leaves gc as it found it."""
    monkeypatch.delenv(GC_ENV, raising=False)
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_knob_parses_from_the_configuration() -> None:
    assert load_config().gc == GcSettings(tune=True, gen0_threshold=50_000)
    config = load_config(None, {"gc": {"tune": False, "gen0_threshold": 10_000}})
    assert config.gc == GcSettings(tune=False, gen0_threshold=10_000)
    with pytest.raises(ConfigError, match=r"gc\.gen0_threshold"):
        load_config(None, {"gc": {"gen0_threshold": 0}})
    with pytest.raises(ConfigError, match=r"gc\.freeze"):
        load_config(None, {"gc": {"freeze": True}})


def test_the_environment_overrides_the_configuration() -> None:
    assert settings_from_env(GcSettings(), {GC_ENV: "0"}).tune is False
    assert settings_from_env(GcSettings(tune=False), {GC_ENV: "True"}).tune is True
    assert settings_from_env(GcSettings(tune=False), {GC_ENV: " "}).tune is False
    with pytest.raises(ValueError, match=GC_ENV):
        settings_from_env(GcSettings(), {GC_ENV: "sometimes"})


def test_off_leaves_the_collector_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    gc.unfreeze()
    thresholds = gc.get_threshold()
    with tuned_gc(GcSettings(tune=False)) as tuned:
        assert tuned is False
        assert gc.get_freeze_count() == 0 and gc.get_threshold() == thresholds
    monkeypatch.setenv(GC_ENV, "off")
    assert tune_gc(GcSettings()) is False
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == thresholds


def test_on_freezes_for_the_run_and_restores_afterwards() -> None:
    gc.unfreeze()
    thresholds = gc.get_threshold()
    with tuned_gc(GcSettings(gen0_threshold=12_345)) as tuned:
        assert tuned is True
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (12_345, *thresholds[1:])
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == thresholds


def test_the_environment_turns_it_on_over_the_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gc.unfreeze()
    monkeypatch.setenv(GC_ENV, "1")
    assert tune_gc(GcSettings(tune=False)) is True
    assert gc.get_freeze_count() > 0
