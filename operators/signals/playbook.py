"""Playbooks: declarative trading rules an analyst writes in YAML, validated by pydantic.

A playbook names a direction, the timeframe whose candle closes trigger it, a condition tree and
how confident it is. Conditions are written as short sentences or nested mappings::

    name: rsi_reversal_long
    direction: long
    timeframe: 15m
    when:
      all:
        - rsi_14 crosses_above 30            # on the playbook's timeframe
        - close > ema_50 on 4h               # the latest closed 4h candle
        - sequence:                          # A, then B, within 8 candles of 15m
            - avg(rsi_5, rsi_15, rsi_30) < 40
            - ema_20 crosses_above ema_50
          within: 8
    confidence: 0.55                         # or derived, see DerivedConfidence
    expires_after: 4                         # candles of the playbook's timeframe
    gate: {fused_score_at_least: 0.75, on: [1h, 4h]}

Condition sentences: ``<operand> <op> <operand> [on <timeframe>]`` with ``op`` one of
``< <= > >= crosses_above crosses_below`` and an operand a number, a feature name (see
:mod:`operators.signals.vocabulary`) or ``avg(name, name, …)``. Mappings: ``all: [...]``,
``any: [...]``, ``not: cond``, ``sequence: [...]`` + ``within: N``.

Validation context (``model_validate(data, context={"timeframes": {...}})``) restricts the
timeframes a playbook may name to those the flow builds.

>>> pb = Playbook.model_validate({"name": "x", "direction": "long", "timeframe": "15m",
...                               "when": "rsi_14 < 30", "confidence": 0.5})
>>> pb.when.left.names, pb.when.op, pb.when.right.value
(('rsi_14',), '<', 30.0)
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from operators.signals.vocabulary import describe_vocabulary, is_known_feature
from schemas.common import Direction, Timeframe


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _check_timeframe(value: Timeframe | None, info: ValidationInfo) -> Timeframe | None:
    allowed = (info.context or {}).get("timeframes")
    if value is not None and allowed is not None and value not in allowed:
        names = ", ".join(sorted((Timeframe(t).value for t in allowed), key=_tf_order))
        raise ValueError(f"timeframe {value.value!r} is not built by this flow (built: {names})")
    return value


def _tf_order(name: str) -> int:
    return Timeframe(name).seconds


# --- operands --------------------------------------------------------------------------------

_AVERAGE = re.compile(r"^(?:avg|mean)\((?P<args>[^()]*)\)$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Operand(_Model):
    """A number, a feature value, or the average of several features.

    >>> Operand.parse("avg(rsi_5, rsi_15)").names, Operand.parse("-1.5").value
    (('rsi_5', 'rsi_15'), -1.5)
    >>> str(Operand.parse("avg(rsi_5,rsi_15)")), str(Operand.parse("0"))
    ('avg(rsi_5, rsi_15)', '0')
    """

    kind: Literal["number", "feature", "average"]
    value: float | None = None
    names: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: object) -> Operand:
        return cls.model_validate(_operand_input(text))

    def __str__(self) -> str:
        if self.kind == "number":
            return f"{self.value:g}"
        if self.kind == "feature":
            return self.names[0]
        return f"avg({', '.join(self.names)})"

    @model_validator(mode="after")
    def _consistent(self) -> Operand:
        if self.kind == "number":
            if self.value is None or not math.isfinite(self.value) or self.names:
                raise ValueError("a number operand needs a finite value and no names")
        elif self.kind == "feature" and len(self.names) != 1:
            raise ValueError("a feature operand names exactly one feature")
        elif self.kind == "average" and len(self.names) < 2:
            raise ValueError("avg(...) needs at least two features")
        for name in self.names:
            if not is_known_feature(name):
                raise ValueError(f"unknown indicator {name!r} (known: {describe_vocabulary()})")
        return self


def _operand_input(value: object) -> object:
    if isinstance(value, Operand | dict):
        return value
    if isinstance(value, bool):
        raise ValueError(f"an operand must be a number or a feature name, got {value!r}")
    if isinstance(value, int | float):
        return {"kind": "number", "value": float(value)}
    if not isinstance(value, str):
        raise ValueError(f"an operand must be a number or a feature name, got {value!r}")
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return {"kind": "number", "value": number}
    average = _AVERAGE.match(text)
    if average:
        names = tuple(part.strip() for part in average.group("args").split(","))
        bad = [n for n in names if not _NAME.match(n)]
        if bad:
            raise ValueError(f"avg(...) takes feature names, got {bad[0]!r} in {text!r}")
        return {"kind": "average", "names": names}
    if _NAME.match(text):
        return {"kind": "feature", "names": (text,)}
    raise ValueError(
        f"cannot read operand {text!r}: expected a number, a feature name or avg(a, b, ...)"
    )


OperandField = Annotated[Operand, BeforeValidator(_operand_input)]


# --- conditions ------------------------------------------------------------------------------

CompareOp = Literal["<", "<=", ">", ">="]
CrossOp = Literal["crosses_above", "crosses_below"]

_SENTENCE = re.compile(
    r"^\s*(?P<left>.+?)\s+(?P<op><=|>=|<|>|crosses_above|crosses_below)\s+(?P<right>.+?)"
    r"(?:\s+on\s+(?P<on>\S+))?\s*$"
)


class Compare(_Model):
    """``left op right`` on the latest closed candle of ``on`` (default: the playbook's)."""

    left: OperandField
    op: CompareOp
    right: OperandField
    on: Timeframe | None = None

    _on = field_validator("on")(_check_timeframe)

    def __str__(self) -> str:
        return _sentence(self.left, self.op, self.right, self.on)


class Cross(_Model):
    """``left`` crossed ``right`` between the previous and the latest closed candle of ``on``."""

    left: OperandField
    op: CrossOp
    right: OperandField
    on: Timeframe | None = None

    _on = field_validator("on")(_check_timeframe)

    def __str__(self) -> str:
        return _sentence(self.left, self.op, self.right, self.on)


def _sentence(left: Operand, op: str, right: Operand, on: Timeframe | None) -> str:
    suffix = f" on {on.value}" if on is not None else ""
    return f"{left} {op} {right}{suffix}"


class AllOf(_Model):
    all: list[Condition] = Field(min_length=1)


class AnyOf(_Model):
    any: list[Condition] = Field(min_length=1)


class NotOf(_Model):
    not_: Condition = Field(alias="not")


class SequenceOf(_Model):
    """Each step true in order (the first may be earlier), the last one now, within N candles."""

    sequence: list[Condition] = Field(min_length=2)
    within: int = Field(ge=1, le=10_000, description="candles of the playbook's timeframe")


def _parse_sentence(value: object) -> object:
    if not isinstance(value, str):
        return value
    match = _SENTENCE.match(value)
    if not match:
        raise ValueError(
            f"cannot read condition {value!r}: expected '<operand> <op> <operand> [on <tf>]' "
            "with op one of <, <=, >, >=, crosses_above, crosses_below"
        )
    parsed: dict[str, Any] = {
        "left": match.group("left"),
        "op": match.group("op"),
        "right": match.group("right"),
    }
    if match.group("on"):
        parsed["on"] = match.group("on")
    return parsed


def _condition_tag(value: object) -> str | None:
    if isinstance(value, BaseModel):
        return {
            Compare: "compare",
            Cross: "cross",
            AllOf: "all",
            AnyOf: "any",
            NotOf: "not",
            SequenceOf: "sequence",
        }.get(type(value))
    if not isinstance(value, dict):
        return None
    for key in ("all", "any", "not", "sequence"):
        if key in value:
            return key
    if "op" not in value:
        return None
    return "cross" if str(value["op"]).startswith("crosses_") else "compare"


_TaggedCondition = Annotated[
    Union[  # noqa: UP007 - a discriminated union of tagged models
        Annotated[Compare, Tag("compare")],
        Annotated[Cross, Tag("cross")],
        Annotated[AllOf, Tag("all")],
        Annotated[AnyOf, Tag("any")],
        Annotated[NotOf, Tag("not")],
        Annotated[SequenceOf, Tag("sequence")],
    ],
    Discriminator(
        _condition_tag,
        custom_error_type="condition",
        custom_error_message="a condition is a sentence or a mapping with all/any/not/sequence",
    ),
]
Condition = Annotated[_TaggedCondition, BeforeValidator(_parse_sentence)]

for _model in (AllOf, AnyOf, NotOf, SequenceOf):
    _model.model_rebuild()


# --- the playbook ----------------------------------------------------------------------------


class DerivedConfidence(_Model):
    """Confidence moving linearly from ``base`` to ``max`` as ``by`` goes ``from`` → ``to``.

    >>> DerivedConfidence.model_validate(
    ...     {"base": 0.4, "max": 0.7, "by": "rsi_14", "from": 30, "to": 10}).by.names
    ('rsi_14',)
    """

    base: float = Field(ge=0.0, le=1.0)
    max: float = Field(ge=0.0, le=1.0)
    by: OperandField
    on: Timeframe | None = None
    from_: float = Field(alias="from", allow_inf_nan=False)
    to: float = Field(allow_inf_nan=False)

    _on = field_validator("on")(_check_timeframe)

    @model_validator(mode="after")
    def _distinct_ends(self) -> DerivedConfidence:
        if self.from_ == self.to:
            raise ValueError(f"'from' and 'to' must differ, both are {self.to}")
        return self


class Gate(_Model):
    """Admit the signal only while the fused score on each of ``on`` agrees at least this much."""

    fused_score_at_least: float = Field(gt=0.0, le=1.0)
    on: list[Timeframe] = Field(min_length=1)

    @field_validator("on")
    @classmethod
    def _known(cls, value: list[Timeframe], info: ValidationInfo) -> list[Timeframe]:
        for timeframe in value:
            _check_timeframe(timeframe, info)
        return value


class Playbook(_Model):
    """One rule: when the condition holds at a close of ``timeframe``, emit a signal."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=64)
    description: str = ""
    direction: Direction
    timeframe: Timeframe
    when: Condition
    confidence: float | DerivedConfidence = Field(union_mode="left_to_right")
    expires_after: int = Field(default=4, ge=1, le=10_000)
    trigger: Literal["edge", "level"] = Field(
        default="edge", description="edge: once when the condition becomes true; level: every close"
    )
    assets: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    gate: Gate | None = None
    enabled: bool = True

    _timeframe = field_validator("timeframe")(_check_timeframe)

    @field_validator("direction")
    @classmethod
    def _not_flat(cls, value: Direction) -> Direction:
        if value is Direction.FLAT:
            raise ValueError("a playbook argues for 'long' or 'short', not 'flat'")
        return value

    @field_validator("confidence")
    @classmethod
    def _confidence_range(cls, value: float | DerivedConfidence) -> float | DerivedConfidence:
        if isinstance(value, float) and not 0.0 <= value <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {value}")
        return value

    @property
    def origin(self) -> str:
        return f"rules:{self.name}"

    def features(self) -> set[str]:
        """Every feature name the playbook reads."""
        names: set[str] = set()
        _collect_features(self.when, names)
        if isinstance(self.confidence, DerivedConfidence):
            names.update(self.confidence.by.names)
        return names


def _collect_features(condition: BaseModel, names: set[str]) -> None:
    if isinstance(condition, Compare | Cross):
        names.update(condition.left.names)
        names.update(condition.right.names)
    elif isinstance(condition, AllOf):
        for child in condition.all:
            _collect_features(child, names)
    elif isinstance(condition, AnyOf):
        for child in condition.any:
            _collect_features(child, names)
    elif isinstance(condition, NotOf):
        _collect_features(condition.not_, names)
    elif isinstance(condition, SequenceOf):
        for child in condition.sequence:
            _collect_features(child, names)


class PlaybookFile(_Model):
    """A YAML file holding several playbooks under ``playbooks:``."""

    playbooks: list[Playbook] = Field(min_length=1)
