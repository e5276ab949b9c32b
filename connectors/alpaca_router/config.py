"""Settings of the Alpaca stock router's connection (keys: :func:`load_credentials`, never here).

Keys come from the environment or secret files, like every venue's:
``QUORUM_ALPACA_API_KEY``/``QUORUM_ALPACA_API_SECRET`` (or ``..._FILE``), read by
:func:`connectors.ccxt_router.load_credentials` with the venue name ``alpaca``.

>>> AlpacaConfig(url_override="http://127.0.0.1:9000").stream_endpoint
'ws://127.0.0.1:9000/stream'
>>> AlpacaConfig().stream_endpoint is None      # the SDK's own paper/live endpoint
True
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from connectors.gateway_config import GatewaySettings

MAX_CLIENT_ORDER_ID = 128
"""Alpaca's limit on ``client_order_id``."""


class AlpacaConfig(GatewaySettings):
    """One Alpaca trading connection of the stock router (resends and reconciliation: the base)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="alpaca", min_length=1, description="Venue name orders are routed to")
    paper: bool = Field(default=True, description="Alpaca's paper endpoint (false: live money)")
    url_override: str | None = Field(
        default=None, description="TradingClient base URL (the loopback simulator in tests)"
    )
    stream_url: str | None = Field(
        default=None,
        description="trade_updates WebSocket URL; default: url_override's /stream, else the SDK's",
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="HTTP timeout of one request")
    rate_limit_retries: int = Field(
        default=3, ge=0, description="The SDK's own resends of a request answered 429"
    )
    watch: bool = Field(default=True, description="Follow the trade_updates stream (TradingStream)")

    @property
    def stream_endpoint(self) -> str | None:
        if self.stream_url:
            return self.stream_url
        if self.url_override:
            base = self.url_override.rstrip("/")
            return "ws" + base[len("http") :] + "/stream" if base.startswith("http") else None
        return None
