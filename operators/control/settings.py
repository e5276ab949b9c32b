"""The control room's pure core: validate a change against the flow's configuration, compute
the settings in force, the diff between two versions and a revert.

A change is checked against the same models the flow runs with: the fused overrides must make a
valid :class:`~operators.fusion.config.FusionConfig` and :class:`~operators.risk.config.RiskConfig`
(pydantic's message names the field and the value), a prior must name an existing source (or an
origin prefix of one) and only existing sources can be switched off.

>>> from operators.fusion.config import FusionConfig
>>> from operators.risk.config import RiskConfig
>>> base = ControlBase(FusionConfig(), RiskConfig(), ("rules:a", "stat:zscore_reversion"))
>>> raised = apply_change(base, ControlOverrides(), ControlChange(fusion={"open_above": 0.8},
...                                                                 disable=["rules:a"]))
>>> raised.fusion, raised.disabled
({'open_above': 0.8}, ('rules:a',))
>>> [(c.path, c.before, c.after) for c in diff(settings_for(base, ControlOverrides()),
...                                              settings_for(base, raised))]
[('fusion.open_above', 0.7, 0.8), ('sources.rules:a', 'enabled', 'disabled')]
>>> apply_change(base, raised, ControlChange(fusion={"review_from": 0.9}))
Traceback (most recent call last):
...
operators.control.settings.ControlError: fusion.review_from: Value error, review_from (0.9) must ...
>>> apply_change(base, raised, ControlChange(disable=["rules:nope"]))
Traceback (most recent call last):
...
operators.control.settings.ControlError: sources: no source 'rules:nope' (known: rules:a, ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from operators.control.state import ControlSettings
from operators.fusion.config import FusionConfig
from operators.risk.config import RiskConfig
from schemas.control import ControlChange, ControlOverrides, FieldChange

if TYPE_CHECKING:
    from flows.config import QuorumConfig

FROZEN_FUSION_FIELDS = frozenset({"calibration_bins"})
"""Fusion fields fixed for a run's life: the reliability records are laid out by them."""


class ControlError(ValueError):
    """A change the flow cannot take; the message names the field and the value."""


@dataclass(frozen=True, slots=True)
class ControlBase:
    """What changes are validated against: the run's fusion and risk configuration and the
    signal origins its generators emit."""

    fusion: FusionConfig
    risk: RiskConfig
    sources: tuple[str, ...]

    @classmethod
    def of(cls, config: QuorumConfig) -> ControlBase:
        """The base of a run's configuration (every generator's origin, text included)."""
        sources = {g.origin for g in config.signals.build_generators()}
        if config.text.enabled:
            from operators.signals.text.config import ORIGIN

            sources.add(ORIGIN)
        return cls(config.fusion, config.trading.risk, tuple(sorted(sources)))


def _validated(model: type[BaseModel], section: str, base: BaseModel, overrides: dict[str, Any]):
    data = {**base.model_dump(), **overrides}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ControlError(f"{section}.{where}: {error['msg']} (got {error['input']!r})") from None


def settings_for(
    base: ControlBase, overrides: ControlOverrides, version: int = 0
) -> ControlSettings:
    """The settings in force with ``overrides`` over ``base``; :class:`ControlError` if invalid."""
    frozen = FROZEN_FUSION_FIELDS & overrides.fusion.keys()
    if frozen:
        raise ControlError(f"fusion.{min(frozen)}: cannot change while a flow runs")
    fusion = _validated(FusionConfig, "fusion", base.fusion, overrides.fusion)
    risk = _validated(RiskConfig, "risk", base.risk, overrides.risk)
    for key in fusion.priors:
        if key not in base.fusion.priors and not _names_source(key, base.sources):
            raise ControlError(
                f"fusion.priors: {key!r} names no source or origin prefix "
                f"(known: {', '.join(base.sources)})"
            )
    unknown = sorted(set(overrides.disabled) - set(base.sources))
    if unknown:
        raise ControlError(f"sources: no source {unknown[0]!r} (known: {', '.join(base.sources)})")
    return ControlSettings(version, fusion, risk, frozenset(overrides.disabled))


def _names_source(key: str, sources: tuple[str, ...]) -> bool:
    return any(origin == key or origin.startswith(key + ":") for origin in sources)


def _merged(
    base: BaseModel, current: dict[str, Any], wanted: dict[str, Any], effective: BaseModel
) -> dict[str, Any]:
    """``current`` overrides updated with ``wanted``; values equal to the file's are dropped."""
    merged = dict(current)
    configured = base.model_dump(mode="json")
    in_force = effective.model_dump(mode="json")
    for name, value in wanted.items():
        if isinstance(value, dict) and isinstance(in_force.get(name), dict):
            value = {**in_force[name], **value}
        merged[name] = value
    return {
        name: value
        for name, value in merged.items()
        if name not in configured or _json(value) != configured[name]
    }


def _json(value: Any) -> Any:
    """``value`` as the JSON form pydantic dumps (numbers as given, dict keys as strings)."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return value


def apply_change(
    base: ControlBase, current: ControlOverrides, change: ControlChange
) -> ControlOverrides:
    """The overrides after ``change``; :class:`ControlError` if invalid or if it changes nothing."""
    effective = settings_for(base, current)
    for name in (*change.disable, *change.enable):
        if name not in base.sources:
            raise ControlError(f"sources: no source {name!r} (known: {', '.join(base.sources)})")
    disabled = (set(current.disabled) | set(change.disable)) - set(change.enable)
    after = ControlOverrides(
        fusion=_merged(base.fusion, current.fusion, change.fusion, effective.fusion),
        risk=_merged(base.risk, current.risk, change.risk, effective.risk),
        disabled=tuple(disabled),
    )
    if not diff(effective, settings_for(base, after)):
        raise ControlError("the change changes nothing: every value is already in force")
    return after


def diff(before: ControlSettings, after: ControlSettings) -> list[FieldChange]:
    """Every effective value that differs, fusion and risk fields then sources, sorted by path."""
    changes: list[FieldChange] = []
    for section in ("fusion", "risk"):
        old = getattr(before, section).model_dump(mode="json")
        new = getattr(after, section).model_dump(mode="json")
        for name in sorted(new):
            if old[name] == new[name]:
                continue
            if isinstance(new[name], dict):
                for key in sorted(old[name].keys() | new[name].keys()):
                    was, now = old[name].get(key), new[name].get(key)
                    if was != now:
                        changes.append(
                            FieldChange(path=f"{section}.{name}.{key}", before=was, after=now)
                        )
            else:
                changes.append(
                    FieldChange(path=f"{section}.{name}", before=old[name], after=new[name])
                )
    for origin in sorted(before.disabled ^ after.disabled):
        was = "disabled" if origin in before.disabled else "enabled"
        now = "disabled" if origin in after.disabled else "enabled"
        changes.append(FieldChange(path=f"sources.{origin}", before=was, after=now))
    return changes
