"""The stock router's broker side on Alpaca's trading API (the official ``alpaca-py`` SDK).

:class:`AlpacaGateway` sends the trading core's commands (idempotent placement by
``client_order_id``, lookups after timeouts, 429 handling, Alpaca's errors as reasons) and
collects the broker's reports (REST answers, the ``trade_updates`` stream, reconciliation);
:class:`~connectors.ccxt_router.VenueReportSource` feeds them back into the flow. Keys:
``QUORUM_ALPACA_API_KEY``/``_API_SECRET`` (or ``_FILE``), read by
:func:`connectors.ccxt_router.load_credentials`.
"""

from connectors.alpaca_router.config import MAX_CLIENT_ORDER_ID, AlpacaConfig
from connectors.alpaca_router.gateway import AlpacaGateway, fill_key, make_trading_client

__all__ = [
    "MAX_CLIENT_ORDER_ID",
    "AlpacaConfig",
    "AlpacaGateway",
    "fill_key",
    "make_trading_client",
]
