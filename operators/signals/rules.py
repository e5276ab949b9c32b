"""Run playbooks: evaluate each one's condition tree at the closes of its timeframe.

Semantics, precisely:

* A playbook is evaluated at every close of its ``timeframe`` for a symbol its ``assets``
  patterns match. A condition ``on`` another timeframe reads the latest candle of that
  timeframe closed at or before this close (never a later one).
* Comparisons read the latest candle; ``crosses_above`` is true when ``left <= right`` on the
  previous candle and ``left > right`` on the latest (``crosses_below`` mirrored). Anything NaN
  (warm-up, missing column) makes a leaf false.
* ``sequence: [A, B, …] within N``: there are closes t_A ≤ t_B ≤ … among the last ``N`` closes
  of the playbook's timeframe with each step true at its close, and the last step true now.
* ``trigger: edge`` (default) emits once when the whole condition turns true; ``level`` emits at
  every close while it holds.
* A playbook with a ``gate`` emits a *gated* signal: ``meta["gate"]`` holds the required fused
  score and timeframes, and the fusion orchestrator counts the signal only while its gate holds
  (see :mod:`operators.fusion.gates`). The rule itself never reads fusion state, so the
  dataflow stays acyclic.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from operators.signals.base import build_signal
from operators.signals.confidence import interpolate_confidence
from operators.signals.market_view import CandleRow, MarketView
from operators.signals.playbook import (
    AllOf,
    AnyOf,
    Compare,
    Cross,
    DerivedConfidence,
    NotOf,
    Operand,
    Playbook,
    SequenceOf,
)
from operators.signals.release import AsOfView, Release
from operators.signals.vocabulary import CANDLE_FIELDS
from schemas.common import Timeframe
from schemas.signals import Signal

Values = dict[str, float]


def operand_value(operand: Operand, row: CandleRow | None) -> float:
    """The operand's value on a candle row (NaN when the row is missing or in warm-up).

    >>> row = CandleRow("X", Timeframe.M15, 0, 1, 1, 1, 1, 1, {"rsi_5": 30.0, "rsi_15": 40.0})
    >>> average, two = Operand.parse("avg(rsi_5, rsi_15)"), Operand.parse("2")
    >>> operand_value(average, row), operand_value(two, None)
    (35.0, 2.0)
    """
    if operand.kind == "number":
        return float(operand.value)  # type: ignore[arg-type]
    if row is None:
        return math.nan
    names = operand.names
    if len(names) == 1:
        return 0 + row.value(names[0])  # what sum([v]) / 1 gives, -0.0 included
    values = [row.value(name) for name in names]
    return sum(values) / len(values)


Reader = Callable[[CandleRow | None], float]


def operand_reader(operand: Operand) -> Reader:
    """:func:`operand_value` of ``operand`` as a function of the row, its kind decided once
    (a rule tree reads its operands at every close of the live path).

    >>> row = CandleRow("X", Timeframe.M15, 0, 1, 1, 1, 1, 1, {"rsi_5": 30.0, "rsi_15": 40.0})
    >>> [operand_reader(Operand.parse(text))(row) for text in ("avg(rsi_5, rsi_15)", "rsi_5",
    ...                                                       "close", "2", "ema_9")]
    [35.0, 30.0, 1.0, 2.0, nan]
    >>> operand_reader(Operand.parse("rsi_5"))(None)
    nan
    """
    if operand.kind == "number":
        number = float(operand.value)  # type: ignore[arg-type]
        return lambda row: number
    if len(operand.names) > 1:
        return functools.partial(operand_value, operand)
    name = operand.names[0]  # 0 + value: what sum([v]) / 1 gives, -0.0 included
    if name in CANDLE_FIELDS:  # as CandleRow.value reads it
        return lambda row: math.nan if row is None else 0 + float(getattr(row, name))
    return lambda row: math.nan if row is None else 0 + float(row.features.get(name, math.nan))


class _Closes:
    """Operand values at a playbook's trigger closes within one release, as arrays.

    ``values(operand, timeframe, back)`` is, for each trigger close, the operand on the latest
    (``back=0``) or the previous (``back=1``) candle of ``timeframe`` the view held at that
    close — NaN where there is none — computed with the same float operations as
    :func:`operand_value`.
    """

    def __init__(self, release: Release, timeframe: Timeframe, selected: np.ndarray) -> None:
        self.release = release
        self.timeframe = timeframe
        self.selected = selected
        self._values: dict[tuple[str, Timeframe, int], np.ndarray] = {}

    def values(self, operand: Operand, timeframe: Timeframe, back: int) -> np.ndarray:
        key = (str(operand), timeframe, back)
        values = self._values.get(key)
        if values is None:
            values = self._values[key] = self._compute(operand, timeframe, back)
        return values

    def _compute(self, operand: Operand, timeframe: Timeframe, back: int) -> np.ndarray:
        size = len(self.selected)
        if operand.kind == "number":
            return np.full(size, float(operand.value))  # type: ignore[arg-type]
        index = self.release.as_of(timeframe, self.timeframe)[self.selected] - back
        missing = index < 0
        total: np.ndarray | None = None
        for name in operand.names:
            column = self.release.column(timeframe, name)
            if len(column) == 0:
                value = np.full(size, math.nan)
            else:
                value = np.where(missing, math.nan, column[np.where(missing, 0, index)])
            total = 0.0 + value if total is None else total + value  # as sum([...]) adds
        assert total is not None
        return total / len(operand.names) if len(operand.names) > 1 else total


class _Node:
    """A compiled condition: evaluated once per trigger close (children always evaluated, so
    every sequence keeps an aligned history). The operand values a signal reports are read
    only when it fires (:meth:`collect`), not at every close.

    :meth:`mask` evaluates it at every trigger close of a release at once (numpy), with the
    same results and the same history updates as :meth:`evaluate` close by close."""

    def evaluate(self, view: MarketView) -> bool:
        raise NotImplementedError

    def mask(self, closes: _Closes) -> np.ndarray:
        raise NotImplementedError

    def collect(self, view: MarketView, values: Values) -> None:
        """Record the operand values this condition reads now (left to right)."""
        raise NotImplementedError


class _CompareNode(_Node):
    _OPS: ClassVar[dict[str, Callable[[float, float], bool]]] = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }

    def __init__(self, spec: Compare, default_tf: Timeframe) -> None:
        self.spec = spec
        self.timeframe = spec.on or default_tf
        self.label = str(spec)
        self._left, self._right = operand_reader(spec.left), operand_reader(spec.right)
        self._op = self._OPS[spec.op]

    def evaluate(self, view: MarketView) -> bool:
        row = view.latest(self.timeframe)
        left, right = self._left(row), self._right(row)
        if math.isnan(left) or math.isnan(right):
            return False
        return bool(self._op(left, right))

    def collect(self, view: MarketView, values: Values) -> None:
        _collect_operands(self.spec.left, self.spec.right, self.timeframe, view, values)

    _MASKS: ClassVar[dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
        "<": np.less,
        "<=": np.less_equal,
        ">": np.greater,
        ">=": np.greater_equal,
    }

    def mask(self, closes: _Closes) -> np.ndarray:
        left = closes.values(self.spec.left, self.timeframe, 0)
        right = closes.values(self.spec.right, self.timeframe, 0)
        return self._MASKS[self.spec.op](left, right)  # NaN compares false, as evaluate says


class _CrossNode(_Node):
    def __init__(self, spec: Cross, default_tf: Timeframe) -> None:
        self.spec = spec
        self.timeframe = spec.on or default_tf
        self._left, self._right = operand_reader(spec.left), operand_reader(spec.right)
        self._above = spec.op == "crosses_above"

    def collect(self, view: MarketView, values: Values) -> None:
        _collect_operands(self.spec.left, self.spec.right, self.timeframe, view, values)

    def evaluate(self, view: MarketView) -> bool:
        latest, previous = view.latest(self.timeframe), view.previous(self.timeframe)
        left, right = self._left, self._right
        now_l, now_r, was_l, was_r = left(latest), right(latest), left(previous), right(previous)
        if math.isnan(now_l) or math.isnan(now_r) or math.isnan(was_l) or math.isnan(was_r):
            return False
        if self._above:
            return was_l <= was_r and now_l > now_r
        return was_l >= was_r and now_l < now_r

    def mask(self, closes: _Closes) -> np.ndarray:
        left, right, tf = self.spec.left, self.spec.right, self.timeframe
        now_l, now_r = closes.values(left, tf, 0), closes.values(right, tf, 0)
        was_l, was_r = closes.values(left, tf, 1), closes.values(right, tf, 1)
        if self.spec.op == "crosses_above":
            return (was_l <= was_r) & (now_l > now_r)  # any NaN: false
        return (was_l >= was_r) & (now_l < now_r)


class _AllNode(_Node):
    def __init__(self, children: list[_Node]) -> None:
        self.children = children

    def evaluate(self, view: MarketView) -> bool:
        results = [child.evaluate(view) for child in self.children]
        return all(results)

    def collect(self, view: MarketView, values: Values) -> None:
        for child in self.children:
            child.collect(view, values)

    def mask(self, closes: _Closes) -> np.ndarray:
        masks = [child.mask(closes) for child in self.children]
        return np.logical_and.reduce(masks)


class _AnyNode(_AllNode):
    def evaluate(self, view: MarketView) -> bool:
        results = [child.evaluate(view) for child in self.children]
        return any(results)

    def mask(self, closes: _Closes) -> np.ndarray:
        masks = [child.mask(closes) for child in self.children]
        return np.logical_or.reduce(masks)


class _NotNode(_Node):
    def __init__(self, child: _Node) -> None:
        self.child = child

    def evaluate(self, view: MarketView) -> bool:
        return not self.child.evaluate(view)

    def collect(self, view: MarketView, values: Values) -> None:
        self.child.collect(view, values)

    def mask(self, closes: _Closes) -> np.ndarray:
        return ~self.child.mask(closes)


class _SequenceNode(_AllNode):
    def __init__(self, children: list[_Node], within: int) -> None:
        super().__init__(children)
        self.history: deque[tuple[bool, ...]] = deque(maxlen=within)

    def evaluate(self, view: MarketView) -> bool:
        self.history.append(tuple(child.evaluate(view) for child in self.children))
        return sequence_holds(list(self.history))

    def mask(self, closes: _Closes) -> np.ndarray:
        steps = np.column_stack([child.mask(closes) for child in self.children])
        held = len(self.history)
        if held:
            steps = np.concatenate((np.array(self.history, dtype=bool), steps))
        holds = sequence_mask(steps, held, self.history.maxlen or 1)
        self.history.extend(tuple(row) for row in steps[held:].tolist())
        return holds


def _collect_operands(
    left: Operand, right: Operand, timeframe: Timeframe, view: MarketView, values: Values
) -> None:
    row = view.latest(timeframe)
    values[f"{left}@{timeframe.value}"] = operand_value(left, row)
    if right.kind != "number":
        values[f"{right}@{timeframe.value}"] = operand_value(right, row)


def sequence_holds(history: list[tuple[bool, ...]]) -> bool:
    """Steps true in order within ``history`` (oldest first), the last step at the newest entry.

    >>> sequence_holds([(True, False), (False, False), (False, True)])
    True
    >>> sequence_holds([(False, True), (True, False), (False, False)])
    False
    >>> sequence_holds([(True, True)])
    True
    """
    if not history:
        return False
    steps = len(history[0])
    if not history[-1][steps - 1]:
        return False
    position = 0
    for step in range(steps - 1):
        while position < len(history) and not history[position][step]:
            position += 1
        if position == len(history):
            return False
    return True


def sequence_mask(steps: np.ndarray, start: int, within: int) -> np.ndarray:
    """:func:`sequence_holds` at every row from ``start`` on, each over the ``within`` rows
    ending there (fewer at the beginning), with ``steps[i, s]`` step ``s`` true at row ``i``.

    >>> steps = np.array([(True, False), (False, False), (False, True), (False, True)])
    >>> sequence_mask(steps, 0, 3).tolist(), sequence_mask(steps, 2, 2).tolist()
    ([False, False, True, False], [False, False])
    """
    rows, count = steps.shape
    ends = np.arange(start, rows)
    position = np.maximum(ends - within + 1, 0)
    holds = steps[start:, count - 1].copy()
    for step in range(count - 1):
        # first row at or after each row where the step is true (``rows`` when none)
        true_at = np.where(steps[:, step], np.arange(rows), rows)
        next_true = np.append(np.minimum.accumulate(true_at[::-1])[::-1], rows)
        position = next_true[position]
        holds &= position <= ends
        position = np.minimum(position, rows)
    return holds


def compile_condition(spec: Any, default_tf: Timeframe) -> _Node:
    """Condition model → evaluator tree (fresh state)."""
    if isinstance(spec, Compare):
        return _CompareNode(spec, default_tf)
    if isinstance(spec, Cross):
        return _CrossNode(spec, default_tf)
    if isinstance(spec, AllOf):
        return _AllNode([compile_condition(c, default_tf) for c in spec.all])
    if isinstance(spec, AnyOf):
        return _AnyNode([compile_condition(c, default_tf) for c in spec.any])
    if isinstance(spec, NotOf):
        return _NotNode(compile_condition(spec.not_, default_tf))
    if isinstance(spec, SequenceOf):
        children = [compile_condition(c, default_tf) for c in spec.sequence]
        return _SequenceNode(children, spec.within)
    raise TypeError(f"not a condition: {spec!r}")


@functools.lru_cache(maxsize=1024)
def _playbook_of(text: str) -> Playbook:
    return Playbook.model_validate_json(text)


_PLAYBOOK_TEXTS: dict[str, str] = {}
"""Every playbook built into a rule in this process, as compact JSON text by its digest.

The configuration builds its rules at start-up (:meth:`SignalsConfig.required_features`), so
a restoring process knows every playbook its snapshots name before Bytewax restores them."""


def playbook_ref(text: str) -> str:
    """The digest a snapshot names a playbook by (remembered for :func:`playbook_text`).

    >>> ref = playbook_ref('{"name":"dip"}')
    >>> len(ref), playbook_text(ref)
    (16, '{"name":"dip"}')
    """
    ref = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    _PLAYBOOK_TEXTS.setdefault(ref, text)
    return ref


def playbook_text(ref: str) -> str:
    """The playbook text a snapshot names by ``ref``, as built into a rule in this process."""
    text = _PLAYBOOK_TEXTS.get(ref)
    if text is None:
        raise LookupError(
            f"a signal engine snapshot names playbook {ref}, which this process's "
            "configuration does not hold: restore with the configuration it was taken with"
        )
    return text


@dataclass(frozen=True, slots=True)
class _SharedParts:
    """What every symbol's rule of one playbook shares: its origin, its digest and, when the
    condition keeps no history (no ``sequence``), the compiled tree itself — its nodes hold
    nothing per symbol (a rule with a sequence compiles its own: the sequence's history)."""

    playbook: Playbook  # held, so that the id this is cached by stays this playbook's
    origin: str
    ref: str
    root: _Node | None


_SHARED: dict[int, _SharedParts] = {}


def _text_of(playbook: Playbook) -> str:
    """The compact JSON text a playbook is named by (:func:`playbook_ref`) and restored from."""
    return playbook.model_dump_json(by_alias=True, exclude_defaults=True)


def _shared_parts(playbook: Playbook) -> _SharedParts:
    """The parts of ``playbook``'s rules shared by every symbol (with 10,000 symbols, a
    playbook's rules would otherwise hold 10,000 equal trees, origins and digests)."""
    shared = _SHARED.get(id(playbook))
    if shared is None:
        root = compile_condition(playbook.when, playbook.timeframe)
        shared = _SharedParts(
            playbook,
            playbook.origin,
            playbook_ref(_text_of(playbook)),
            None if _sequences(root) else root,
        )
        _SHARED[id(playbook)] = shared
    return shared


def _sequences(node: _Node) -> list[_SequenceNode]:
    """The tree's sequence nodes (the ones with a history), in a fixed order."""
    found = [node] if isinstance(node, _SequenceNode) else []
    children = getattr(node, "children", None) or [getattr(node, "child", None)]
    for child in children:
        if child is not None:
            found.extend(_sequences(child))
    return found


class PlaybookRule:
    """One playbook running on one symbol: a :class:`~operators.signals.base.SignalGenerator`.

    >>> from operators.signals.playbook_loader import parse_playbook_text
    >>> (pb,) = parse_playbook_text(
    ...     "name: dip\\ndirection: long\\ntimeframe: 1h\\nwhen: rsi_14 < 30\\nconfidence: 0.5")
    >>> rule, view = PlaybookRule(pb), MarketView()
    >>> def close(i, rsi):
    ...     row = CandleRow("X/Y", Timeframe.H1, i * Timeframe.H1.ns, 1, 1, 1, 1, 1,
    ...                     {"rsi_14": rsi})
    ...     view.push(row)
    ...     return [s.direction.value for s in rule.on_candle(row, view)]
    >>> close(0, 35.0), close(1, 25.0), close(2, 20.0), close(3, 40.0), close(4, 29.0)
    ([], ['long'], [], [], ['long'])
    """

    __slots__ = ("_applies_to", "_ref", "origin", "playbook", "root", "was_true")

    def __init__(self, playbook: Playbook) -> None:
        shared = _shared_parts(playbook)
        self.playbook = playbook
        self.origin = shared.origin
        self.root = shared.root or compile_condition(playbook.when, playbook.timeframe)
        self.was_true = False
        self._applies_to: tuple[str, bool] | None = None  # the symbol last asked about
        self._ref = shared.ref

    def __getstate__(self) -> dict[str, Any]:
        """The state a symbol's rule owns, naming its playbook (configuration, the same for
        every symbol) by the digest of its compact JSON text: the validated model and the
        compiled tree are rebuilt on restore from the text the configuration built (the model
        shared by every rule restored from the same text)."""
        return {
            "playbook_ref": self._ref,
            "was_true": self.was_true,
            "applies": dict([self._applies_to] if self._applies_to else []),
            "sequences": [node.history for node in _sequences(self.root)],
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "root" in state:  # a snapshot of the earlier form: the whole object's attributes
            histories = [node.history for node in _sequences(state["root"])]
            state = {
                "playbook": _text_of(state["playbook"]),
                "was_true": state["was_true"],
                "applies": state["_applies"],
                "sequences": histories,
            }
        text = state["playbook"] if "playbook" in state else playbook_text(state["playbook_ref"])
        self.__init__(_playbook_of(text))  # type: ignore[misc]
        self.was_true = state["was_true"]
        self._applies_to = next(reversed(state["applies"].items()), None)
        for node, history in zip(_sequences(self.root), state["sequences"], strict=True):
            node.history = history

    def required_features(self) -> set[str]:
        return self.playbook.features()

    def applies_to(self, symbol: str) -> bool:
        known = self._applies_to
        if known is not None and known[0] == symbol:
            return known[1]
        applies = any(fnmatch.fnmatchcase(symbol, pattern) for pattern in self.playbook.assets)
        self._applies_to = (symbol, applies)
        return applies

    def confidence(self, view: MarketView) -> float:
        spec = self.playbook.confidence
        if not isinstance(spec, DerivedConfidence):
            return spec
        value = operand_value(spec.by, view.latest(spec.on or self.playbook.timeframe))
        return interpolate_confidence(value, spec.from_, spec.to, spec.base, spec.max)

    def on_candle(self, row: CandleRow, view: MarketView) -> list[Signal]:
        playbook = self.playbook
        if row.timeframe != playbook.timeframe or not self.applies_to(row.symbol):
            return []
        holds = self.root.evaluate(view)
        fire = holds and (playbook.trigger == "level" or not self.was_true)
        self.was_true = holds
        if not fire:
            return []
        return [self._signal(row, view)]

    def on_rows(self, release: Release) -> list[tuple[int, Signal]]:
        """The rule at every close of its timeframe in a release at once (numpy masks)."""
        timeframe = self.playbook.timeframe
        positions = release.positions(timeframe)
        rows = release.rows
        selected = [i for i, p in enumerate(positions) if self.applies_to(rows[p].symbol)]
        if not selected:
            return []
        chosen = np.array(selected, dtype=np.int64)
        holds = self.root.mask(_Closes(release, timeframe, chosen))
        fire = holds.copy()
        if self.playbook.trigger == "edge":
            fire[0] &= not self.was_true
            fire[1:] &= ~holds[:-1]
        self.was_true = bool(holds[-1])
        out = []
        for k in np.flatnonzero(fire).tolist():
            position = positions[selected[k]]
            view = AsOfView(release, timeframe, selected[k])
            out.append((position, self._signal(rows[position], view)))  # type: ignore[arg-type]
        return out

    def _signal(self, row: CandleRow, view: MarketView) -> Signal:
        playbook = self.playbook
        values: Values = {}
        self.root.collect(view, values)
        meta: dict[str, Any] = {
            "playbook": playbook.name,
            "values": {k: (None if math.isnan(v) else v) for k, v in values.items()},
        }
        if playbook.gate is not None:
            meta["gate"] = {
                "min_score": playbook.gate.fused_score_at_least,
                "timeframes": [tf.value for tf in playbook.gate.on],
            }
        return build_signal(
            self.origin,
            row,
            playbook.direction,
            self.confidence(view),
            playbook.expires_after,
            meta,
        )
