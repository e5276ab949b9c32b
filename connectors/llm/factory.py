"""The assistant over a store: the SDK client, the store's cache and usage ledger, its audit chain.

One place builds it, for every user of a model (explanations, headline scoring, drafting).
"""

from __future__ import annotations

import os

from sqlalchemy.engine import Engine

from connectors.llm.client import LlmClient
from connectors.llm.config import LlmConfig
from connectors.store.audit import append_events
from connectors.store.llm import LlmStore
from operators.explain.assistant import Assistant


def build_assistant(config: LlmConfig, engine: Engine) -> Assistant:
    """An :class:`Assistant` for ``config.model`` recording into ``engine``'s store.

    The API key (read from ``config.api_key_env``) is also handed to the redactor, so it can
    never reach a prompt whatever its shape.
    """
    secret = os.environ.get(config.api_key_env, "")
    return Assistant(
        config,
        LlmClient(config),
        LlmStore(engine),
        lambda events: append_events(engine, events),
        secrets=[secret] if secret else [],
    )
