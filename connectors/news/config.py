"""``NewsPollerConfig``: which CryptoPanic-style endpoint to poll, for what, how often.

The token goes in the request's query string as the API asks, but it is read from the
environment variable ``auth_token_env`` and never stored, printed or logged.

>>> NewsPollerConfig(base_url="http://127.0.0.1:9/api/v1").posts_url
'http://127.0.0.1:9/api/v1/posts/'
>>> NewsPollerConfig(poll_interval_seconds=1)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for NewsPollerConfig
poll_interval_seconds
  Input should be greater than or equal to 5 ...
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class NewsPollerConfig(BaseModel):
    """A CryptoPanic-compatible posts endpoint and the polling limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(
        default="https://cryptopanic.com/api/v1",
        description="API root; the poller calls <base_url>/posts/",
    )
    auth_token_env: str = Field(
        default="CRYPTOPANIC_TOKEN",
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="environment variable holding the API token",
    )
    currencies: tuple[str, ...] = Field(
        default=(), description="currency codes to ask for (empty: all)"
    )
    kind: str = Field(default="news", pattern=r"^(news|media|all)$", description="post kind")
    poll_interval_seconds: float = Field(default=60, ge=5, description="between polls")
    max_pages: int = Field(default=3, ge=1, le=20, description="pages followed per poll")
    timeout_seconds: float = Field(default=10, gt=0, le=120, description="per request")
    remember: int = Field(default=5_000, ge=100, description="post ids kept to drop repeats")

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @property
    def posts_url(self) -> str:
        return f"{self.base_url}/posts/"
