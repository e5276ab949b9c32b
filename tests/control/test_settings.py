"""The control room's pure core: validation against the flow's models, diff, revert, and the
hub that hands the settings in force to a flow's steps (reference values worked by hand)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest

from operators.control.hub import ControlHub
from operators.control.settings import (
    ControlBase,
    ControlError,
    apply_change,
    diff,
    settings_for,
)
from operators.control.wrapper import Controlled
from operators.fusion.config import FusionConfig
from operators.risk.config import RiskConfig
from schemas.common import Timeframe
from schemas.control import ControlChange, ControlOverrides, ControlUpdate

T = datetime(2026, 1, 1, tzinfo=UTC)
SOURCES = ("ml:online", "rules:always_long", "rules:x", "stat:zscore_reversion")
BASE = ControlBase(FusionConfig(), RiskConfig(), SOURCES)
NONE = ControlOverrides()


def change(**fields) -> ControlChange:
    return ControlChange(**fields)


def test_weights_merge_key_by_key_and_a_value_back_at_the_file_drops_its_override() -> None:
    one = apply_change(BASE, NONE, change(fusion={"priors": {"rules:x": 2.0}}))
    assert one.fusion == {"priors": {"rules": 1.0, "stat": 1.0, "ml": 1.0, "rules:x": 2.0}}
    two = apply_change(BASE, one, change(fusion={"priors": {"stat": 0.5}}))
    settings = settings_for(BASE, two)
    assert settings.fusion.prior_for("rules:x") == 2.0
    assert settings.fusion.prior_for("stat:zscore_reversion") == 0.5
    assert settings.fusion.prior_for("rules:always_long") == 1.0
    raised = apply_change(BASE, NONE, change(fusion={"open_above": 0.8}))
    back = apply_change(BASE, raised, change(fusion={"open_above": 0.7}))
    assert back == NONE


def test_timeframe_weights_and_risk_limits_are_typed_by_the_flows_models() -> None:
    after = apply_change(
        BASE,
        NONE,
        change(fusion={"timeframe_weights": {"1h": 3}}, risk={"max_position_notional": "1000.5"}),
    )
    settings = settings_for(BASE, after)
    assert settings.fusion.timeframe_weights[Timeframe.H1] == 3.0
    assert str(settings.risk.max_position_notional) == "1000.5"
    assert [c.path for c in diff(settings_for(BASE, NONE), settings)] == [
        "fusion.timeframe_weights.1h",
        "risk.max_position_notional",
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"fusion": {"open_above": 1.5}}, "fusion.open_above: Input should be less than or equal"),
        ({"fusion": {"review_from": 0.75}}, "fusion.review_from: Value error, review_from (0.75)"),
        ({"fusion": {"calibration_bins": 3}}, "fusion.calibration_bins: cannot change"),
        ({"fusion": {"bands": 1}}, "fusion.bands: Extra inputs are not permitted (got 1)"),
        ({"fusion": {"priors": {"rules:nope": 2}}}, "fusion.priors: 'rules:nope' names no source"),
        ({"fusion": {"priors": {"stat": -1}}}, "prior of 'stat' must be a finite number > 0"),
        ({"risk": {"max_open_positions": 0}}, "risk.max_open_positions: Input should be greater"),
        ({"risk": {"drawdown_action": "active"}}, "risk.drawdown_action: Value error, a circuit"),
        ({"risk": {"max_asset_exposure_pct": 500}}, "max_asset_exposure_pct 500.0 exceeds"),
        ({"disable": ["rules:nope"]}, "sources: no source 'rules:nope' (known: ml:online"),
        ({"enable": ["rules:x"]}, "the change changes nothing"),
        ({"fusion": {"open_above": 0.7}}, "the change changes nothing"),
    ],
)
def test_a_bad_change_is_refused_naming_the_field_and_the_value(fields, message) -> None:
    with pytest.raises(ControlError) as refused:
        apply_change(BASE, NONE, change(**fields))
    assert message in str(refused.value)


def test_disable_then_enable_restores_the_file_and_the_diff_says_so() -> None:
    off = apply_change(BASE, NONE, change(disable=["rules:x", "stat:zscore_reversion"]))
    assert off.disabled == ("rules:x", "stat:zscore_reversion")
    on = apply_change(BASE, off, change(enable=["stat:zscore_reversion"]))
    assert [
        (c.path, c.before, c.after) for c in diff(settings_for(BASE, off), settings_for(BASE, on))
    ] == [("sources.stat:zscore_reversion", "disabled", "enabled")]


def test_the_hub_holds_symbols_until_the_first_update_refuses_bad_versions_survives_pickle() -> (
    None
):
    hub = ControlHub(BASE)
    assert hub.on_symbol("A/B") == []
    first = hub.on_update(ControlUpdate(version=0, ts=T), now=T)
    assert [(k, t, s.version) for k, t, s in first] == [("symbol", "A/B", 0), ("trading", "", 0)]
    assert hub.on_update(ControlUpdate(version=0, ts=T), now=T) == []  # the same one twice
    good = ControlUpdate(
        version=1, ts=T, actor="ana", overrides=ControlOverrides(risk={"max_open_positions": 2})
    )
    out = hub.on_update(good, now=T)
    assert [k for k, _, _ in out] == ["symbol", "trading", "record"]
    assert out[1][2].risk.max_open_positions == 2 and out[2][2].applied
    bad = ControlUpdate(version=2, ts=T, overrides=ControlOverrides(disabled=["rules:gone"]))
    [(kind, _, record)] = hub.on_update(bad, now=T)
    assert kind == "record" and not record.applied and "rules:gone" in record.detail
    resumed = pickle.loads(pickle.dumps(hub))
    assert (
        resumed.settings.version == 1
        and resumed.on_symbol("C/D")[0][2].risk.max_open_positions == 2
    )


def test_a_stored_version_that_no_longer_fits_at_start_runs_the_file_and_says_why() -> None:
    hub = ControlHub(BASE)
    stale = ControlUpdate(version=4, ts=T, overrides=ControlOverrides(disabled=["rules:gone"]))
    out = hub.on_update(stale, now=T)
    assert [k for k, _, _ in out] == ["trading", "record"]
    assert out[0][2].disabled == frozenset() and out[0][2].version == 4
    assert not out[1][2].applied


class _Recorder:
    """An inner step that records what it saw with the tag in force."""

    def __init__(self) -> None:
        self.tag: int | None = None
        self.seen: list[tuple[int | None, int]] = []

    def on_batch(self, values):
        self.seen += [(self.tag, v) for v in values]
        return [v * 10 for v in values], False

    def on_eof(self):
        return ["eof"], False

    def snapshot(self):
        return list(self.seen)


def _tag(inner: _Recorder, settings) -> None:
    inner.tag = settings.version


def test_the_wrapper_holds_data_until_settings_then_applies_them_in_stream_order() -> None:
    v = [settings_for(BASE, NONE, n) for n in range(3)]
    step = Controlled(_Recorder(), _tag)
    assert list(step.on_batch([1, 2])[0]) == []
    assert list(step.on_batch([v[0], 3, v[1], 4])[0]) == [10, 20, 30, 40]
    assert step.inner.seen == [(0, 1), (0, 2), (0, 3), (1, 4)]
    _inner_state, settings, held = step.snapshot()
    resumed = Controlled(_Recorder(), _tag, settings, held)
    assert resumed.inner.tag == 1  # the settings in force are re-applied on resume


def test_held_data_runs_with_the_file_settings_when_the_input_ends_first() -> None:
    step = Controlled(_Recorder(), _tag)
    step.on_batch([5])
    assert list(step.on_eof()[0]) == [50, "eof"]
