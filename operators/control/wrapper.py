"""A per-symbol step that takes the control room's settings in its input.

>>> from bytewax.operators import StatefulBatchLogic
>>> class Echo(StatefulBatchLogic):
...     def __init__(self):
...         self.tag = None
...     def on_batch(self, values):
...         return [(self.tag, v) for v in values], StatefulBatchLogic.RETAIN
...     def snapshot(self):
...         return None
>>> def tag(logic, settings):
...     logic.tag = settings.version
>>> step = Controlled(Echo(), tag)
>>> step.on_batch([1, 2])[0]  # held: no settings yet
[]
>>> settings = ControlSettings(3, None, None, frozenset())
>>> step.on_batch([settings, 4])[0]
[(3, 1), (3, 2), (3, 4)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import bytewax.operators as op
from bytewax.operators import KeyedStream, StatefulBatchLogic

from operators.control.state import ControlSettings

Inner = TypeVar("Inner", bound=StatefulBatchLogic)


class Controlled(StatefulBatchLogic[Any, Any, tuple[Any, Any, list[Any]]], Generic[Inner]):
    """A per-symbol step taking :class:`ControlSettings` in its input: ``apply`` hands each to
    the wrapped logic, in stream order; data waits until the first settings arrived (at the end
    of the input, held data runs with the configuration as it is).

    The snapshot is ``(inner snapshot, settings in force, held data)``.
    """

    def __init__(
        self,
        inner: Inner,
        apply: Callable[[Inner, ControlSettings], None],
        settings: ControlSettings | None = None,
        held: list[Any] | None = None,
    ) -> None:
        self.inner = inner
        self.apply = apply
        self.settings = settings
        self.held = held if held is not None else []
        if settings is not None:
            apply(inner, settings)

    def on_batch(self, values: list[Any]) -> tuple[Iterable[Any], bool]:
        out: list[Any] = []
        data: list[Any] = []
        for value in values:
            if isinstance(value, ControlSettings):
                out.extend(self._run(data))
                data = []
                self.apply(self.inner, value)
                if self.settings is None:
                    data, self.held = self.held, []
                self.settings = value
            elif self.settings is None:
                self.held.append(value)
            else:
                data.append(value)
        out.extend(self._run(data))
        return out, StatefulBatchLogic.RETAIN

    def _run(self, data: list[Any]) -> list[Any]:
        return list(self.inner.on_batch(data)[0]) if data else []

    def on_eof(self) -> tuple[Iterable[Any], bool]:
        out = self._run(self.held)
        self.held = []
        out.extend(self.inner.on_eof()[0])
        return out, StatefulBatchLogic.RETAIN

    def snapshot(self) -> tuple[Any, Any, list[Any]]:
        return (self.inner.snapshot(), self.settings, list(self.held))


def controlled_batch(
    step_id: str,
    up: KeyedStream[Any],
    controls: KeyedStream[ControlSettings],
    build: Callable[[Any], Inner],
    apply: Callable[[Inner, ControlSettings], None],
) -> KeyedStream[Any]:
    """``op.stateful_batch(step_id, up, build)`` taking settings from ``controls`` as well."""

    def builder(resumed: tuple[Any, Any, list[Any]] | None) -> Controlled[Inner]:
        if resumed is None:
            return Controlled(build(None), apply)
        inner_state, settings, held = resumed
        return Controlled(build(inner_state), apply, settings, held)

    merged = op.merge(f"{step_id}_controls", up, controls)
    return op.stateful_batch(step_id, merged, builder)
