"""The control hub of a running flow: one place that validates each new version and tells
every symbol's signal engine and fusion step, and the trading core, the settings in force.

Symbols are announced as the flow first meets them; the hub answers each with the settings in
force. Until the inbox's first update (the version stored when the flow started, or version 0)
has arrived, nothing is answered: the steps hold their data meanwhile, so no candle is ever
processed with settings older than the store's. A version not newer than the one in force is
ignored (the inbox may hand one twice around a start); an invalid one is refused, with the
reason, and the settings in force stay.

>>> from datetime import UTC, datetime
>>> from operators.fusion.config import FusionConfig
>>> from operators.risk.config import RiskConfig
>>> from schemas.control import ControlOverrides, ControlUpdate
>>> hub = ControlHub(ControlBase(FusionConfig(), RiskConfig(), ("rules:a",)))
>>> hub.on_symbol("A/B")  # held until the first update
[]
>>> t = datetime(2026, 1, 1, tzinfo=UTC)
>>> out = hub.on_update(ControlUpdate(version=0, ts=t), now=t)
>>> [(kind, target) for kind, target, _ in out]
[('symbol', 'A/B'), ('trading', '')]
>>> out = hub.on_update(ControlUpdate(version=1, ts=t,
...                     overrides=ControlOverrides(disabled=["rules:a"])), now=t)
>>> [(kind, target) for kind, target, _ in out], out[0][2].disabled
([('symbol', 'A/B'), ('trading', ''), ('record', '')], frozenset({'rules:a'}))
>>> refused = hub.on_update(ControlUpdate(version=2, ts=t,
...                         overrides=ControlOverrides(risk={"max_open_positions": 0})), now=t)
>>> refused[0][2].applied, refused[0][2].detail, hub.settings.version
(False, 'risk.max_open_positions: Input should be greater than or equal to 1 (got 0)', 1)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from operators.control.settings import ControlBase, ControlError, ControlSettings, settings_for
from schemas.control import ControlApplied, ControlOverrides, ControlUpdate

HubOutput = tuple[str, str, Any]
"""``(kind, target, item)``: ``symbol`` (target: the symbol) and ``trading`` carry
:class:`ControlSettings`, ``record`` a :class:`ControlApplied`."""


class ControlHub:
    """Picklable state of the flow's control step (one instance, single key)."""

    def __init__(self, base: ControlBase) -> None:
        self.base = base
        self.settings: ControlSettings | None = None
        self.symbols: set[str] = set()

    def on_symbol(self, symbol: str) -> list[HubOutput]:
        """A symbol the flow met (again, after a restart: answered again, harmlessly)."""
        self.symbols.add(symbol)
        return [] if self.settings is None else [("symbol", symbol, self.settings)]

    def on_update(self, update: ControlUpdate, *, now: datetime) -> list[HubOutput]:
        """A version from the inbox: tell everyone, or refuse it with the reason."""
        current = self.settings
        if current is not None and update.version <= current.version:
            return []
        try:
            settings = settings_for(self.base, update.overrides, update.version)
        except ControlError as exc:
            if current is not None:
                return [("record", "", _applied(update, False, str(exc), now))]
            # The stored version at start is unusable with this configuration: run the file's.
            self.settings = settings_for(self.base, ControlOverrides(), update.version)
            return [*self._broadcast(), ("record", "", _applied(update, False, str(exc), now))]
        self.settings = settings
        out = self._broadcast()
        if update.version > 0:
            out.append(("record", "", _applied(update, True, _summary(settings), now)))
        return out

    def _broadcast(self) -> list[HubOutput]:
        assert self.settings is not None
        out: list[HubOutput] = [("symbol", s, self.settings) for s in sorted(self.symbols)]
        out.append(("trading", "", self.settings))
        return out


def _applied(update: ControlUpdate, applied: bool, detail: str, now: datetime) -> ControlApplied:
    return ControlApplied(
        version=update.version, applied=applied, actor=update.actor, detail=detail, ts=now
    )


def _summary(settings: ControlSettings) -> str:
    disabled = ", ".join(sorted(settings.disabled)) or "none"
    return (
        f"bands open > {settings.fusion.open_above}, review ≥ {settings.fusion.review_from}; "
        f"sources off: {disabled}"
    )
