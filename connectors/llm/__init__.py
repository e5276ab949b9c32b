"""Any OpenAI-compatible chat-completions server (hosted, vLLM, Ollama) through the official SDK.

:class:`~connectors.llm.config.LlmConfig` says where and what (base URL, model, timeouts,
retries, daily call and cost budgets); :class:`~connectors.llm.client.LlmClient` makes one call
and turns every failure into an :class:`~connectors.llm.client.LlmError` with a kind. Without a
model the product uses its deterministic template explainer and never builds a client.
"""

from connectors.llm.client import Completion, LlmClient, LlmError, LlmFailure
from connectors.llm.config import LlmConfig

__all__ = ["Completion", "LlmClient", "LlmConfig", "LlmError", "LlmFailure"]
