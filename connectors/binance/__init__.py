"""Binance spot market data over WebSocket, with REST backfill through ccxt."""

from connectors.binance.config import BinanceConfig
from connectors.binance.source import BinancePartition, BinanceSource

__all__ = ["BinanceConfig", "BinancePartition", "BinanceSource"]
