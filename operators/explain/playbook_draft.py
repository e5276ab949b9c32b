"""Playbook drafting: a person's words → a playbook YAML that must pass the schema.

The model gets the request (redacted), the accepted feature names, the timeframes the flow
builds and one shipped playbook as an example, and answers ``{"yaml", "notes"}``
(:class:`~operators.explain.outputs.PlaybookDraftText`). The YAML is then only *parsed* — by the
round-trip loader, which builds plain mappings and never constructs objects from tags — and
validated against :class:`~operators.signals.playbook.Playbook` exactly as a hand-written file
is. A draft is never enabled here: it is queued for a person's approval.

>>> check = check_draft(
...     "name: x\\ndirection: long\\ntimeframe: 15m\\nwhen: rsi_14 < 30\\nconfidence: 0.4")
>>> check.valid, check.name
(True, 'x')
>>> print(check_draft("name: x\\ndirection: up\\ntimeframe: 15m\\nwhen: rsi_14 < 30\\n"
...                   "confidence: 0.4").problems[0])
draft:2:12: direction: Input should be 'long', 'short' or 'flat'
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from operators.signals.playbook_loader import PlaybookError, parse_playbook_text
from operators.signals.vocabulary import describe_vocabulary
from schemas.common import Timeframe

MAX_PLAYBOOKS = 1


@dataclass(frozen=True, slots=True)
class DraftCheck:
    """The outcome of validating a draft: its name when valid, else the problems."""

    yaml: str
    yaml_hash: str
    name: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


def check_draft(text: str, timeframes: Iterable[Timeframe] | None = None) -> DraftCheck:
    """Validate one drafted playbook (one mapping, or ``playbooks:`` with exactly one)."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    try:
        playbooks = parse_playbook_text(text, "draft", timeframes)
    except PlaybookError as exc:
        return DraftCheck(text, digest, problems=[str(p) for p in exc.problems])
    if len(playbooks) != MAX_PLAYBOOKS:
        return DraftCheck(
            text, digest, problems=[f"draft: one playbook per draft, got {len(playbooks)}"]
        )
    return DraftCheck(text, digest, name=playbooks[0].name)


def draft_inputs(request: str, timeframes: Iterable[Timeframe], example: str) -> dict[str, Any]:
    """What the drafting prompt quotes as data (the request is redacted by the assistant)."""
    return {
        "request": request,
        "features": describe_vocabulary(),
        "timeframes": [tf.value for tf in timeframes],
        "condition_syntax": (
            "'<operand> <op> <operand> [on <timeframe>]' with op one of < <= > >= crosses_above "
            "crosses_below; operands: numbers, feature names, avg(a, b, ...); mappings all:, "
            "any:, not:, sequence: [...] with within: N"
        ),
        "example": example,
    }
