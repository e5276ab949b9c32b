"""What a model may answer, per task: strict schemas; anything else is rejected, never run.

Model output is data. It is parsed as JSON and validated against one of these models (unknown
keys are an error, lengths and ranges bounded); it is never evaluated, imported or executed.

>>> parse_output(HeadlineScores, '{"scores": [{"id": "1", "sentiment": 0.5}]}').scores[0].sentiment
0.5
>>> parse_output(HeadlineScores, '{"scores": [], "decision": "open"}')
Traceback (most recent call last):
...
operators.explain.outputs.OutputInvalidError: answer does not match HeadlineScores: decision: ...
"""

from __future__ import annotations

from typing import Annotated, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]


class OutputInvalidError(ValueError):
    """A model answer that is not the JSON its task asks for."""


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExplanationDraft(_Answer):
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=800)]
    points: list[Line] = Field(default_factory=list, max_length=6)


class HeadlineScore(_Answer):
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    sentiment: float = Field(ge=-1.0, le=1.0, allow_inf_nan=False)


class HeadlineScores(_Answer):
    scores: list[HeadlineScore] = Field(max_length=200)


class PlaybookDraftText(_Answer):
    yaml: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    notes: Annotated[str, StringConstraints(max_length=1_000)] = ""


Answer = TypeVar("Answer", bound=_Answer)


def parse_output(model: type[Answer], text: str) -> Answer:
    """The answer ``text`` validated as ``model``; :class:`OutputInvalidError` names the problem."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise OutputInvalidError(f"answer is not JSON ({exc}): {text[:120]!r}") from None
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
        raise OutputInvalidError(f"answer does not match {model.__name__}: {problems}") from None
