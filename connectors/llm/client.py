"""One chat completion through the official ``openai`` SDK, every failure a typed error.

The SDK does the HTTP, the timeouts and the retries (429 and 5xx with backoff, honouring
``Retry-After``); this wrapper only reads the answer and names what went wrong, so callers can
fall back to the template explainer instead of failing. The key is read from the environment
once and never appears in a message, a repr or a log.

>>> client = LlmClient(LlmConfig(model="m", base_url="http://127.0.0.1:9/v1"), api_key="sk-secret")
>>> "sk-secret" in repr(client)
False
>>> LlmClient(LlmConfig())
Traceback (most recent call last):
...
ValueError: LlmConfig.model is null: no language model is configured
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from enum import StrEnum

import openai

from connectors.llm.config import LlmConfig

LOCAL_PLACEHOLDER_KEY = "no-key"
"""Sent when the key variable is unset: local servers (vLLM, Ollama) accept any key."""


class LlmFailure(StrEnum):
    """Why a call produced nothing usable."""

    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    REJECTED = "rejected"
    REFUSED = "refused"
    MALFORMED = "malformed"
    BUDGET = "budget"


class LlmError(RuntimeError):
    """A call that failed; ``kind`` says how (the message never holds a secret)."""

    def __init__(self, kind: LlmFailure, message: str) -> None:
        super().__init__(f"{kind.value}: {message}")
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Completion:
    """The text of one answer and what it cost."""

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    finish_reason: str


class LlmClient:
    """A configured SDK client; :meth:`complete` returns a :class:`Completion` or raises."""

    def __init__(self, config: LlmConfig, *, api_key: str | None = None) -> None:
        if config.model is None:
            raise ValueError("LlmConfig.model is null: no language model is configured")
        self.config = config
        self.model = config.model
        key = api_key or os.environ.get(config.api_key_env) or LOCAL_PLACEHOLDER_KEY
        self._sdk = openai.OpenAI(
            base_url=config.base_url,
            api_key=key,
            timeout=config.timeout_seconds,
            max_retries=config.max_retries,
        )

    def __repr__(self) -> str:
        return f"LlmClient(model={self.model!r}, base_url={self.config.base_url!r})"

    def complete(self, system: str, user: str, *, json_object: bool = True) -> Completion:
        """Ask once (the SDK retries transient failures); JSON mode when ``json_object``."""
        started = time.perf_counter()
        extra = {"response_format": {"type": "json_object"}} if json_object else {}
        try:
            response = self._sdk.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
                temperature=self.config.temperature,
                max_tokens=self.config.max_tokens,
                **extra,
            )
        except openai.APITimeoutError:
            raise LlmError(
                LlmFailure.TIMEOUT,
                f"no answer within {self.config.timeout_seconds} s "
                f"({self.config.max_retries} retries)",
            ) from None
        except openai.RateLimitError as exc:
            raise LlmError(
                LlmFailure.RATE_LIMITED, f"HTTP 429 after retries: {_brief(exc)}"
            ) from None
        except openai.APIConnectionError:
            raise LlmError(LlmFailure.UNAVAILABLE, f"cannot reach {self.config.base_url}") from None
        except openai.APIStatusError as exc:
            kind = LlmFailure.UNAVAILABLE if exc.status_code >= 500 else LlmFailure.REJECTED
            raise LlmError(kind, f"HTTP {exc.status_code}: {_brief(exc)}") from None
        except openai.APIResponseValidationError as exc:
            raise LlmError(LlmFailure.MALFORMED, f"unreadable response: {_brief(exc)}") from None
        latency_ms = (time.perf_counter() - started) * 1000
        if not response.choices:
            raise LlmError(LlmFailure.MALFORMED, "the response has no choices")
        choice = response.choices[0]
        message = choice.message
        if getattr(message, "refusal", None):
            raise LlmError(LlmFailure.REFUSED, f"the model refused: {message.refusal[:200]}")
        if choice.finish_reason == "content_filter":
            raise LlmError(LlmFailure.REFUSED, "the answer was withheld by the content filter")
        if not message.content:
            raise LlmError(LlmFailure.MALFORMED, "the answer is empty")
        usage = response.usage
        return Completion(
            text=message.content,
            model=response.model or self.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_ms=latency_ms,
            finish_reason=choice.finish_reason or "",
        )


def _brief(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
