"""The settings in force in a running flow, as its steps receive them (no imports of the
steps themselves, so every step can take them without an import cycle)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from operators.fusion.config import FusionConfig
    from operators.risk.config import RiskConfig


@dataclass(frozen=True, slots=True)
class ControlSettings:
    """The settings in force at ``version``: fusion's configuration, the risk limits and the
    signal origins switched off."""

    version: int
    fusion: FusionConfig
    risk: RiskConfig
    disabled: frozenset[str]
