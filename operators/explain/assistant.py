"""The assistant: one guarded path for every model call.

redact → cache → budget → call → validate → audit.

A question is a template, its inputs and the answer schema. The inputs are redacted first (the
redacted form is what is hashed, cached and sent); the cache is keyed by (model,
template@version, input hash), so asking again costs nothing; the per-day call and cost budgets
are checked before a call; the answer is validated against the schema before it is cached or
returned. Every attempted call, successful or not, is recorded as an ``llm_call`` audit event
(prompt hash, model, parameters, response hash, tokens, cost, latency, outcome) and in the usage
ledger the budgets sum. A failure raises :class:`~connectors.llm.client.LlmError`; callers fall
back to their deterministic path.

The dependencies are injected (:class:`AnswerStore`, a client with ``complete``, an audit
writer, a clock), so the logic is tested without I/O and used with the store and the SDK.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from connectors.llm.client import Completion, LlmError, LlmFailure
from connectors.llm.config import LlmConfig
from operators.audit.chain import AuditEvent
from operators.explain.outputs import Answer, OutputInvalidError, parse_output
from operators.explain.prompts import Prompt, PromptTemplate
from operators.explain.redact import redact_value
from schemas.explain import LlmCall

AUDIT_KIND = "llm_call"


class AnswerStore(Protocol):
    def cached_answer(self, call_key: str) -> str | None: ...
    def put_answer(self, call_key: str, model: str, answer: str, ts: datetime) -> None: ...
    def record_usage(
        self, call_key: str, model: str, outcome: str, cost: Decimal, ts: datetime
    ) -> None: ...
    def usage_on(self, day: date) -> tuple[int, Decimal]: ...


class Completer(Protocol):
    model: str

    def complete(self, system: str, user: str, *, json_object: bool = True) -> Completion: ...


def call_key(model: str, template: PromptTemplate, input_hash: str) -> str:
    """The cache key of a question: model, template and version, redacted-input hash.

    >>> from operators.explain.prompts import EXPLAIN_DECISION
    >>> call_key("m", EXPLAIN_DECISION, "ab") == call_key("m", EXPLAIN_DECISION, "ab")
    True
    >>> call_key("m", EXPLAIN_DECISION, "ab") == call_key("other", EXPLAIN_DECISION, "ab")
    False
    """
    text = f"{model}\x1f{template.label}\x1f{input_hash}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Answered:
    """A validated answer and how it was obtained."""

    value: Any
    cached: bool
    call: LlmCall | None
    prompt: Prompt


class Assistant:
    """Asks a configured model through the guarded path; see the module docstring."""

    def __init__(
        self,
        config: LlmConfig,
        client: Completer,
        store: AnswerStore,
        audit: Callable[[list[AuditEvent]], Any],
        *,
        secrets: Iterable[str] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.client = client
        self.store = store
        self.audit = audit
        self.secrets = tuple(secrets)
        self.clock = clock

    @property
    def model(self) -> str:
        return self.client.model

    def ask(
        self, template: PromptTemplate, inputs: dict[str, Any], answer: type[Answer]
    ) -> Answered:
        """A validated answer to ``template`` over ``inputs`` (cached or fresh), or LlmError."""
        clean, removed = redact_value(inputs, self.secrets)
        prompt = template.render(clean)
        key = call_key(self.model, template, prompt.input_hash)
        stored = self.store.cached_answer(key)
        if stored is not None:
            return Answered(parse_output(answer, stored), True, None, prompt)
        now = self.clock()
        calls, spent = self.store.usage_on(now.date())
        if calls >= self.config.max_calls_per_day or spent >= self.config.max_cost_per_day:
            limit = (
                f"{calls} of {self.config.max_calls_per_day} calls"
                if calls >= self.config.max_calls_per_day
                else f"{spent} of {self.config.max_cost_per_day} spent"
            )
            raise LlmError(LlmFailure.BUDGET, f"daily budget used up ({limit} on {now.date()})")
        started = time.perf_counter()
        try:
            completion = self.client.complete(prompt.system, prompt.user)
        except LlmError as exc:
            waited = (time.perf_counter() - started) * 1000
            self._record(key, template, prompt, removed, now, outcome=exc.kind.value, waited=waited)
            raise
        cost = self.config.cost(completion.prompt_tokens, completion.completion_tokens)
        try:
            value = parse_output(answer, completion.text)
        except OutputInvalidError as exc:
            self._record(key, template, prompt, removed, now, completion, cost, "malformed")
            raise LlmError(LlmFailure.MALFORMED, str(exc)) from None
        canonical = value.model_dump_json()
        call = self._record(key, template, prompt, removed, now, completion, cost, "ok")
        self.store.put_answer(key, self.model, canonical, now)
        return Answered(value, False, call, prompt)

    def _record(
        self,
        key: str,
        template: PromptTemplate,
        prompt: Prompt,
        removed: dict[str, int],
        now: datetime,
        completion: Completion | None = None,
        cost: Decimal = Decimal("0"),
        outcome: str = "ok",
        waited: float = 0.0,
    ) -> LlmCall:
        call = LlmCall(
            call_key=key,
            template=template.name,
            template_version=template.version,
            model=self.model,
            parameters=self.config.parameters(),
            prompt_hash=prompt.prompt_hash,
            input_hash=prompt.input_hash,
            response_hash=(
                hashlib.sha256(completion.text.encode()).hexdigest() if completion else None
            ),
            prompt_tokens=completion.prompt_tokens if completion else 0,
            completion_tokens=completion.completion_tokens if completion else 0,
            cost=cost,
            latency_ms=round(completion.latency_ms if completion else waited, 3),
            outcome=outcome,
            redactions=removed,
            ts=now,
        )
        self.store.record_usage(key, self.model, outcome, cost, now)
        self.audit([AuditEvent(AUDIT_KIND, now, call.model_dump(mode="json"))])
        return call
