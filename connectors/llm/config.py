"""``LlmConfig``: which OpenAI-compatible server and model, how long to wait, what to spend.

The API key is never part of the configuration file: ``api_key_env`` names the environment
variable that holds it, read when the client is built (local servers accept any key).

>>> cfg = LlmConfig()
>>> cfg.enabled, cfg.model
(False, None)
>>> LlmConfig(model="m", base_url="ftp://x")
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for LlmConfig
base_url
  Value error, base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got 'ftp://x' ...
>>> LlmConfig(model="m").cost(1000, 500)
Decimal('0')
>>> LlmConfig(model="m", input_price_per_1k="0.5", output_price_per_1k="1.5").cost(1000, 500)
Decimal('1.25')
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class LlmConfig(BaseModel):
    """Where the language model is, and the limits on using it (``model: null`` = no LLM)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = Field(
        default=None,
        description="model name on the server; null uses the deterministic template explainer",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="OpenAI-compatible endpoint (hosted, vLLM, Ollama: http://host:port/v1)",
    )
    api_key_env: str = Field(
        default="OPENAI_API_KEY",
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="environment variable holding the API key (never stored in a file)",
    )
    timeout_seconds: float = Field(default=30.0, gt=0, le=600, description="per request")
    max_retries: int = Field(
        default=2, ge=0, le=10, description="SDK retries on timeouts, 429 and 5xx (with backoff)"
    )
    temperature: float = Field(default=0.0, ge=0, le=2, description="0 = most repeatable")
    max_tokens: int = Field(default=400, ge=16, le=8192, description="per completion")
    max_calls_per_day: int = Field(
        default=500, ge=0, description="model calls per UTC day; cache hits are free"
    )
    max_cost_per_day: Decimal = Field(
        default=Decimal("5"), ge=0, description="spend per UTC day, in the price currency"
    )
    input_price_per_1k: Decimal = Field(
        default=Decimal("0"), ge=0, description="price of 1,000 prompt tokens (0: on-prem)"
    )
    output_price_per_1k: Decimal = Field(
        default=Decimal("0"), ge=0, description="price of 1,000 completion tokens"
    )
    store: str = Field(
        default="quorum.sqlite",
        description="store for the answer cache, usage ledger and llm_call audit records when "
        "no run store is at hand (headline scoring before a replay)",
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {value!r}"
            )
        return value.rstrip("/")

    @property
    def enabled(self) -> bool:
        return self.model is not None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        """What a call with these token counts costs at the configured prices."""
        return (
            self.input_price_per_1k * prompt_tokens + self.output_price_per_1k * completion_tokens
        ) / 1000

    def parameters(self) -> dict[str, object]:
        """The sampling parameters recorded with every call (part of the cache key's model)."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}
