"""Bytewax side of the control room: the hub step and the wrapper that lets a per-symbol step
take settings from it.

:func:`control_plane` keys the inbox's :class:`~schemas.control.ControlUpdate` items and the
symbols the flow meets to one :class:`~operators.control.hub.ControlHub`, and returns the
settings per symbol (for the signal engines and fusion), for the trading core, and the
:class:`~schemas.control.ControlApplied` records. :class:`Controlled` wraps a per-symbol
``StatefulBatchLogic``: it applies settings in stream order, and holds the step's data until the
first settings arrived (so nothing runs with settings older than the store's); it lives in
:mod:`operators.control.wrapper`.

>>> from datetime import UTC, datetime
>>> from bytewax.dataflow import Dataflow
>>> import bytewax.operators as op
>>> from bytewax.testing import TestingSink, TestingSource, run_main
>>> from operators.fusion.config import FusionConfig
>>> from operators.risk.config import RiskConfig
>>> from schemas.control import ControlOverrides, ControlUpdate
>>> t = datetime(2026, 1, 1, tzinfo=UTC)
>>> flow = Dataflow("doc")
>>> updates = op.input("updates", flow, TestingSource([
...     ControlUpdate(version=0, ts=t),
...     ControlUpdate(version=1, ts=t, overrides=ControlOverrides(disabled=["rules:a"]))]))
>>> data = op.input("data", flow, TestingSource([("A/B", 1), ("C/D", 2)]))
>>> streams = control_plane("control", updates, data,
...                         ControlBase(FusionConfig(), RiskConfig(), ("rules:a",)))
>>> per_symbol, records = [], []
>>> op.output("per_symbol", streams.per_symbol, TestingSink(per_symbol))
>>> op.output("records", streams.records, TestingSink(records))
>>> run_main(flow)
>>> sorted({symbol: s.version for symbol, s in per_symbol}.items())  # the last one in force
[('A/B', 1), ('C/D', 1)]
>>> [(r.version, r.applied) for r in records]
[(1, True)]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import KeyedStream

from operators.control.hub import ControlHub, HubOutput
from operators.control.settings import ControlBase
from operators.control.state import ControlSettings
from schemas.control import ControlApplied, ControlUpdate

HUB_KEY = "control"


@dataclass(frozen=True)
class ControlStreams:
    per_symbol: KeyedStream[ControlSettings]
    """Settings for each symbol's signal engine and fusion step."""
    trading: Stream[ControlSettings]
    """Settings for the trading core (its risk limits)."""
    records: Stream[ControlApplied]
    """One record per version: applied, or refused with the reason (stored and audited)."""


def _first_sight() -> Callable[[tuple[str, Any]], tuple[str, Any] | None]:
    """Announce each symbol once per process; the hub answers a repeated one harmlessly."""
    seen: set[str] = set()

    def announce(item: tuple[str, Any]) -> tuple[str, Any] | None:
        symbol = item[0]
        if symbol in seen:
            return None
        seen.add(symbol)
        return (HUB_KEY, symbol)

    return announce


def _hub_step(base: ControlBase) -> Callable[[ControlHub | None, Any], tuple[ControlHub, list]]:
    def step(hub: ControlHub | None, item: Any) -> tuple[ControlHub, list[HubOutput]]:
        hub = hub if hub is not None else ControlHub(base)
        if isinstance(item, ControlUpdate):
            return hub, hub.on_update(item, now=datetime.now(UTC))
        return hub, hub.on_symbol(item)

    return step


def _of_kind(kind: str) -> Callable[[tuple[str, HubOutput]], Any]:
    def pick(keyed: tuple[str, HubOutput]) -> Any:
        out_kind, target, item = keyed[1]
        if out_kind != kind:
            return None
        return (target, item) if kind == "symbol" else item

    return pick


@operator
def control_plane(
    step_id: str,
    updates: Stream[ControlUpdate],
    symbols_of: KeyedStream[Any],
    base: ControlBase,
) -> ControlStreams:
    """Route the inbox's versions, validated against ``base``, to every symbol met in
    ``symbols_of`` (a stream keyed by symbol) and to the trading core."""
    announced = op.filter_map("announce", symbols_of, _first_sight())
    versions = op.key_on("key", updates, lambda _u: HUB_KEY)
    out = op.stateful_flat_map("hub", op.merge("in", versions, announced), _hub_step(base))
    return ControlStreams(
        per_symbol=op.filter_map("per_symbol", out, _of_kind("symbol")),
        trading=op.filter_map("trading", out, _of_kind("trading")),
        records=op.filter_map("records", out, _of_kind("record")),
    )
