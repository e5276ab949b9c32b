"""Records of the language-model assistant: each model call, and each decision's explanation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from schemas.common import Frozen, UtcDatetime


class LlmCall(Frozen):
    """One model call (or refused attempt), as the audit chain records it: hashes, not text."""

    call_key: str = Field(description="sha256 of (model, template@version, input hash)")
    template: str
    template_version: int
    model: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    prompt_hash: str
    input_hash: str
    response_hash: str | None = None
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    cost: Decimal = Field(default=Decimal("0"), ge=0, description="At the configured prices")
    latency_ms: float = Field(default=0.0, ge=0)
    outcome: str = Field(description="ok, or why not: timeout, rate_limited, malformed, …")
    redactions: dict[str, int] = Field(default_factory=dict, description="kind → count removed")
    ts: UtcDatetime


class Explanation(Frozen):
    """Why a fused decision came out as it did, for the person reviewing it."""

    fused_id: str
    asset: str
    timestamp: UtcDatetime = Field(description="The decision's event time")
    decision: str
    summary: str
    points: list[str] = Field(default_factory=list)
    explainer: str = Field(description="template, or llm:<model>")
    input_hash: str = Field(description="sha256 of the facts it was built from")
    fallback_reason: str | None = Field(
        default=None, description="why the template stood in for a configured model"
    )
