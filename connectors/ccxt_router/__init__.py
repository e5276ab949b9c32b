"""The exchange router's venue side on ccxt's unified API (Binance spot first).

:class:`VenueGateway` sends the trading core's commands (idempotent placement by
``clientOrderId``, lookups after timeouts, rate limits, venue errors as reasons) and collects the
venue's reports (REST answers, ``watch_orders``/``watch_my_trades``, reconciliation), which
:class:`VenueReportSource` feeds back into the flow. Credentials: :func:`load_credentials`.
"""

from connectors.ccxt_router.config import (
    CredentialsError,
    VenueConfig,
    VenueCredentials,
    load_credentials,
)
from connectors.ccxt_router.gateway import GatewayStats, VenueGateway, make_pro_exchange
from connectors.ccxt_router.source import VenueReportSource

__all__ = [
    "CredentialsError",
    "GatewayStats",
    "VenueConfig",
    "VenueCredentials",
    "VenueGateway",
    "VenueReportSource",
    "load_credentials",
    "make_pro_exchange",
]
