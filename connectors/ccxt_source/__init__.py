"""Market data from any ccxt exchange by REST polling, with the live sources' gap logic."""

from connectors.ccxt_source.config import PollingConfig
from connectors.ccxt_source.source import CcxtPollingSource, PollingPartition

__all__ = ["CcxtPollingSource", "PollingConfig", "PollingPartition"]
