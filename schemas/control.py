"""Control-room records: runtime configuration changes of a running flow, their versions and
what the flow made of them. Frozen pydantic models like every canonical record.

A person asks for a :class:`ControlChange` (fusion fields, risk limits, sources switched off or
on); the store keeps each accepted change as a :class:`ControlVersion` carrying the *complete*
set of overrides in force after it (:class:`ControlOverrides`), so any version can be restored
and a flow needs only the latest one. The inbox hands a flow each new version as a
:class:`ControlUpdate`; the flow answers with a :class:`ControlApplied` (applied or refused,
and why), audited.

>>> ControlOverrides(disabled=["rules:b", "rules:a", "rules:b"]).disabled
('rules:a', 'rules:b')
>>> ControlChange(enable=[])
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for ControlChange
  Value error, a change must set a fusion or risk field, or enable or disable a source ...
...
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.common import UtcDatetime


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


def _sorted_unique(value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(value)))


class ControlOverrides(_Record):
    """Every value the control room set, over the run's configuration file.

    ``fusion`` and ``risk`` hold field → value (JSON form) for
    :class:`~operators.fusion.config.FusionConfig` and :class:`~operators.risk.config.RiskConfig`;
    ``disabled`` the signal origins switched off. Empty: the configuration as written.
    """

    fusion: dict[str, Any] = Field(default_factory=dict, description="FusionConfig overrides")
    risk: dict[str, Any] = Field(default_factory=dict, description="RiskConfig overrides")
    disabled: tuple[str, ...] = Field(default=(), description="Signal origins switched off")

    _normalise = field_validator("disabled")(_sorted_unique)

    def is_empty(self) -> bool:
        return not (self.fusion or self.risk or self.disabled)


class ControlChange(_Record):
    """What a person asks for. Dict fields (``priors``, ``timeframe_weights``) merge key by key
    with their current value; a value equal to the configuration file's drops the override."""

    fusion: dict[str, Any] = Field(
        default_factory=dict, description="FusionConfig fields to set, e.g. {'open_above': 0.8}"
    )
    risk: dict[str, Any] = Field(
        default_factory=dict, description="RiskConfig fields to set, e.g. {'max_open_positions': 3}"
    )
    disable: tuple[str, ...] = Field(default=(), description="Signal origins to switch off")
    enable: tuple[str, ...] = Field(default=(), description="Signal origins to switch on again")

    _normalise = field_validator("disable", "enable")(_sorted_unique)

    @model_validator(mode="after")
    def _not_empty(self) -> ControlChange:
        if not (self.fusion or self.risk or self.disable or self.enable):
            raise ValueError(
                "a change must set a fusion or risk field, or enable or disable a source"
            )
        both = set(self.disable) & set(self.enable)
        if both:
            raise ValueError(f"sources both enabled and disabled: {sorted(both)}")
        return self


class FieldChange(_Record):
    """One effective value that a version changed (``path``: ``fusion.open_above``,
    ``fusion.priors.rules:x``, ``risk.max_open_positions``, ``sources.rules:x``)."""

    path: str
    before: Any
    after: Any


class ControlVersion(_Record):
    """Version ``version`` of the control settings: who, why, when, what changed, and the full
    overrides in force from then on. Version 0 is the configuration file (no overrides)."""

    version: int = Field(ge=1)
    change_id: str = Field(min_length=1, description="Idempotency key of the request")
    actor: str = Field(min_length=1, description="The signed-in identity")
    via: str = Field(description="Channel: api:<key id>, cli, dashboard:<key id>")
    reason: str
    ts: UtcDatetime
    overrides: ControlOverrides
    diff: tuple[FieldChange, ...]
    reverts_to: int | None = Field(default=None, ge=0, description="Restored version, if any")


class ControlUpdate(_Record):
    """A version as the inbox hands it to a running flow."""

    version: int = Field(ge=0)
    overrides: ControlOverrides = ControlOverrides()
    actor: str = "configuration"
    reason: str = ""
    ts: UtcDatetime


class ControlApplied(_Record):
    """What a running flow made of a version: applied, or refused with the reason (audited)."""

    version: int = Field(ge=0)
    applied: bool
    actor: str
    detail: str
    ts: UtcDatetime = Field(description="Wall-clock time the flow took it in")
