"""Settings of a ccxt venue connection, and its credentials (never printed).

Keys come from the environment or from secret files (Docker/Kubernetes secrets), never from a
flag or a configuration file: ``QUORUM_<VENUE>_API_KEY`` and ``QUORUM_<VENUE>_API_SECRET``, or
``QUORUM_<VENUE>_API_KEY_FILE`` / ``QUORUM_<VENUE>_API_SECRET_FILE`` naming a file that holds it.

>>> creds = load_credentials("binance", {"QUORUM_BINANCE_API_KEY": "k",
...                                      "QUORUM_BINANCE_API_SECRET": "s3cr3t"})
>>> creds
VenueCredentials(venue='binance', api_key=SecretStr('**********'), secret=SecretStr('**********'))
>>> load_credentials("kraken", {})
Traceback (most recent call last):
...
connectors.ccxt_router.config.CredentialsError: live trading on kraken needs ... in the environment
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.gateway_config import GatewaySettings


class CredentialsError(ValueError):
    """A venue's key or secret is missing or unreadable (the message never holds a secret)."""


class VenueCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)

    venue: str
    api_key: SecretStr
    secret: SecretStr


def _read(venue: str, name: str, env: Mapping[str, str]) -> SecretStr:
    var = f"QUORUM_{venue.upper()}_{name}"
    value = env.get(var)
    if value:
        return SecretStr(value)
    path = env.get(f"{var}_FILE")
    if path:
        try:
            text = Path(path).read_text().strip()
        except OSError as exc:
            raise CredentialsError(f"{var}_FILE: cannot read the file ({exc.strerror})") from None
        if text:
            return SecretStr(text)
        raise CredentialsError(f"{var}_FILE names an empty file")
    raise CredentialsError(
        f"live trading on {venue} needs {var} (or {var}_FILE) in the environment"
    )


def load_credentials(venue: str, env: Mapping[str, str] | None = None) -> VenueCredentials:
    env = os.environ if env is None else env
    return VenueCredentials(
        venue=venue, api_key=_read(venue, "API_KEY", env), secret=_read(venue, "API_SECRET", env)
    )


class VenueConfig(GatewaySettings):
    """One venue connection of the exchange router (resends and reconciliation: the base)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="binance", description="Venue name orders are routed to")
    exchange: str = Field(default="binance", description="ccxt exchange id")
    rest_url: str | None = Field(default=None, description="Override the REST base URL")
    ws_url: str | None = Field(default=None, description="Override the WebSocket base URL")
    recv_window_ms: int = Field(default=5000, gt=0, le=60_000, description="Binance recvWindow")
    timeout_ms: int = Field(default=10_000, gt=0, description="HTTP timeout of one request")
    max_client_order_id: int = Field(
        default=36, ge=1, description="Longest clientOrderId the venue takes (Binance: 36)"
    )
    quotes_every_seconds: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Poll the venue's top of book this often and report it (smart order routing's "
            "quotes and the venues' price check); None: no quotes"
        ),
    )
    watch: bool = Field(
        default=True, description="Follow the user-data stream (watch_orders/watch_my_trades)"
    )
