"""Stripe settings: key, API base, webhook secret (from the environment, never from files).

>>> cfg = StripeConfig(api_key="sk_test_x", webhook_secret="whsec_x")
>>> cfg.api_base, cfg.webhook_tolerance_seconds, cfg.meter_event_name
('https://api.stripe.com', 300, 'quorum_signal')
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

ENV_PREFIX = "QUORUM_STRIPE_"


class StripeConfigError(ValueError):
    """Stripe settings missing or invalid; the message names the variable."""


class StripeConfig(BaseModel):
    """How Quorum reaches Stripe; environment variables ``QUORUM_STRIPE_<FIELD>`` set them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr = Field(description="Secret key (sk_live_… or sk_test_…)")
    api_base: str = Field(
        default="https://api.stripe.com",
        description="API base URL; a local Stripe-compatible server in tests",
    )
    webhook_secret: SecretStr = Field(description="Signing secret of the webhook endpoint")
    webhook_tolerance_seconds: int = Field(
        default=300, ge=1, le=3600, description="Oldest signature timestamp accepted"
    )
    meter_event_name: str = Field(
        default="quorum_signal", description="event_name of the Billing Meter of delivered signals"
    )
    portal_return_url: str = Field(
        default="http://127.0.0.1:8501", description="Where the customer portal sends people back"
    )
    max_network_retries: int = Field(default=2, ge=0, le=10, description="SDK retries per call")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StripeConfig:
        """Read ``QUORUM_STRIPE_*``; a missing or bad value names its variable."""
        env = os.environ if env is None else env
        values = {
            name: env[ENV_PREFIX + name.upper()]
            for name in cls.model_fields
            if ENV_PREFIX + name.upper() in env
        }
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{ENV_PREFIX}{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors()
            )
            raise StripeConfigError(f"Stripe is not configured: {problems}") from None
