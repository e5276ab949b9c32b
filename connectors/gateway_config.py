"""Settings every venue gateway shares: how it resends an order and how it reconciles.

The ccxt exchange router (:class:`connectors.ccxt_router.VenueConfig`) and the Alpaca stock
router (:class:`connectors.alpaca_router.AlpacaConfig`) extend :class:`GatewaySettings` with
their venue's own connection settings.

>>> GatewaySettings().place_attempts, GatewaySettings().reconcile_every_seconds
(5, 30.0)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GatewaySettings(BaseModel):
    """Resends and reconciliation of one venue gateway (:mod:`connectors.gateway_thread`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    place_attempts: int = Field(
        default=5, ge=1, description="Sends of one order (same client order id) before giving up"
    )
    retry_wait_seconds: float = Field(
        default=0.5, gt=0, description="First wait between attempts (doubles, capped at 30 s)"
    )
    reconcile_every_seconds: float = Field(
        default=30.0, gt=0, description="Reconcile with the venue at least this often"
    )
    lookback_seconds: float = Field(
        default=3600.0, gt=0, description="How far back reconciliation reads the venue's fills"
    )
