"""Explain a decision: the language model when one is configured, the template otherwise.

The explanation is advisory text stored beside the decision; nothing reads it back into the
flow. A model's answer is validated (:class:`~operators.explain.outputs.ExplanationDraft`);
its decision, asset and time are copied from the facts, never from the answer. Any model
failure (timeout, 429, refusal, malformed answer, budget) falls back to the template and says
why in ``fallback_reason``.

>>> from datetime import UTC, datetime
>>> facts = {"fused_id": "f1", "asset": "A/B", "time": "2022-01-05T10:00:00+00:00",
...          "decision": "review", "direction": "long", "score": 0.6, "consensus": 0.6,
...          "conflict": False, "veto": None, "reasons": [], "guards": [], "review": None,
...          "contributions": []}
>>> Explainer().explain(facts).explainer
'template'
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from connectors.llm.client import LlmError
from operators.audit.chain import canonical_json
from operators.explain.assistant import Assistant
from operators.explain.outputs import ExplanationDraft
from operators.explain.prompts import EXPLAIN_DECISION
from operators.explain.template import template_explanation
from schemas.explain import Explanation

TEMPLATE = "template"


class Explainer:
    """Turns decision facts into an :class:`Explanation` (model first when configured)."""

    def __init__(self, assistant: Assistant | None = None) -> None:
        self.assistant = assistant

    def explain(self, facts: dict[str, Any]) -> Explanation:
        input_hash = hashlib.sha256(canonical_json(facts)).hexdigest()
        fallback = None
        if self.assistant is not None:
            try:
                answered = self.assistant.ask(EXPLAIN_DECISION, facts, ExplanationDraft)
                return _explanation(
                    facts, answered.value, f"llm:{self.assistant.model}", input_hash, None
                )
            except LlmError as exc:
                fallback = str(exc)
        draft = template_explanation(facts)
        return _explanation(facts, draft, TEMPLATE, input_hash, fallback)


def _explanation(
    facts: dict[str, Any],
    draft: ExplanationDraft,
    explainer: str,
    input_hash: str,
    fallback: str | None,
) -> Explanation:
    return Explanation(
        fused_id=facts["fused_id"],
        asset=facts["asset"],
        timestamp=datetime.fromisoformat(facts["time"]),
        decision=facts["decision"],
        summary=draft.summary,
        points=list(draft.points),
        explainer=explainer,
        input_hash=input_hash,
        fallback_reason=fallback,
    )
