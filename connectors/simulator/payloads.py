"""Binance spot wire formats: WebSocket stream events and REST response rows.

Field names follow Binance's documentation exactly; prices and sizes are decimal strings, times
are epoch milliseconds. Builders take plain Python values so they can be tested on their own.
"""

from __future__ import annotations

from typing import Any

from connectors.simulator.catalogue import Market
from connectors.simulator.tape import Klines

KLINE_INTERVALS_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
"""Kline intervals the simulator serves, with their lengths."""


def decimal(value: float, places: int = 8) -> str:
    """Binance's decimal string.

    >>> decimal(39432.48)
    '39432.48000000'
    """
    return f"{value:.{places}f}"


def combined(stream: str, data: dict[str, Any]) -> dict[str, Any]:
    """The combined-stream wrapper: ``{"stream": ..., "data": ...}``."""
    return {"stream": stream, "data": data}


def trade_event(
    market_id: str,
    event_ms: int,
    trade_id: int,
    price: float,
    qty: float,
    trade_ms: int,
    buyer_maker: bool,
) -> dict[str, Any]:
    """A ``<symbol>@trade`` event.

    >>> trade_event("BTCUSDT", 5, 1, 2.5, 0.1, 4, True)["q"]
    '0.10000000'
    """
    return {
        "e": "trade",
        "E": event_ms,
        "s": market_id,
        "t": trade_id,
        "p": decimal(price),
        "q": decimal(qty),
        "T": trade_ms,
        "m": buyer_maker,
        "M": True,
    }


def agg_trade_event(
    market_id: str,
    event_ms: int,
    agg_id: int,
    price: float,
    qty: float,
    first_id: int,
    last_id: int,
    trade_ms: int,
    buyer_maker: bool,
) -> dict[str, Any]:
    """A ``<symbol>@aggTrade`` event."""
    return {
        "e": "aggTrade",
        "E": event_ms,
        "s": market_id,
        "a": agg_id,
        "p": decimal(price),
        "q": decimal(qty),
        "f": first_id,
        "l": last_id,
        "T": trade_ms,
        "m": buyer_maker,
        "M": True,
    }


def kline_body(market_id: str, interval: str, klines: Klines, i: int, closed: bool) -> dict:
    """The ``k`` object of a kline event for row ``i`` of ``klines``."""
    open_ms = int(klines.open_ms[i])
    return {
        "t": open_ms,
        "T": open_ms + KLINE_INTERVALS_MS[interval] - 1,
        "s": market_id,
        "i": interval,
        "f": int(klines.first_id[i]),
        "L": int(klines.last_id[i]),
        "o": decimal(float(klines.open[i])),
        "c": decimal(float(klines.close[i])),
        "h": decimal(float(klines.high[i])),
        "l": decimal(float(klines.low[i])),
        "v": decimal(float(klines.volume[i])),
        "n": int(klines.trades[i]),
        "x": closed,
        "q": decimal(float(klines.quote_volume[i])),
        "V": decimal(float(klines.taker_base[i])),
        "Q": decimal(float(klines.taker_quote[i])),
        "B": "0",
    }


def kline_event(
    market_id: str, interval: str, event_ms: int, klines: Klines, i: int, closed: bool
) -> dict[str, Any]:
    """A ``<symbol>@kline_<interval>`` event."""
    return {
        "e": "kline",
        "E": event_ms,
        "s": market_id,
        "k": kline_body(market_id, interval, klines, i, closed),
    }


def book_ticker_event(
    market_id: str, update_id: int, bid: float, bid_qty: float, ask: float, ask_qty: float
) -> dict[str, Any]:
    """A spot ``<symbol>@bookTicker`` event (spot carries no event time)."""
    return {
        "u": update_id,
        "s": market_id,
        "b": decimal(bid),
        "B": decimal(bid_qty),
        "a": decimal(ask),
        "A": decimal(ask_qty),
    }


def server_shutdown_event(event_ms: int) -> dict[str, Any]:
    """The event Binance sends before it shuts a stream server down."""
    return {"e": "serverShutdown", "E": event_ms}


def rest_kline_row(interval: str, klines: Klines, i: int) -> list[Any]:
    """One row of ``GET /api/v3/klines``."""
    open_ms = int(klines.open_ms[i])
    return [
        open_ms,
        decimal(float(klines.open[i])),
        decimal(float(klines.high[i])),
        decimal(float(klines.low[i])),
        decimal(float(klines.close[i])),
        decimal(float(klines.volume[i])),
        open_ms + KLINE_INTERVALS_MS[interval] - 1,
        decimal(float(klines.quote_volume[i])),
        int(klines.trades[i]),
        decimal(float(klines.taker_base[i])),
        decimal(float(klines.taker_quote[i])),
        "0",
    ]


def rest_trade(
    trade_id: int, price: float, qty: float, time_ms: int, buyer_maker: bool
) -> dict[str, Any]:
    """One row of ``GET /api/v3/trades`` and ``/api/v3/historicalTrades``."""
    return {
        "id": trade_id,
        "price": decimal(price),
        "qty": decimal(qty),
        "quoteQty": decimal(price * qty),
        "time": time_ms,
        "isBuyerMaker": buyer_maker,
        "isBestMatch": True,
    }


def rest_agg_trade(
    agg_id: int,
    price: float,
    qty: float,
    first_id: int,
    last_id: int,
    time_ms: int,
    buyer_maker: bool,
) -> dict[str, Any]:
    """One row of ``GET /api/v3/aggTrades``."""
    return {
        "a": agg_id,
        "p": decimal(price),
        "q": decimal(qty),
        "f": first_id,
        "l": last_id,
        "T": time_ms,
        "m": buyer_maker,
        "M": True,
    }


def symbol_info(market: Market) -> dict[str, Any]:
    """One entry of ``exchangeInfo.symbols``: enough for ccxt's ``load_markets``."""
    tick = decimal(10.0**-market.price_decimals)
    step = decimal(10.0**-market.qty_decimals)
    return {
        "symbol": market.market_id,
        "status": "TRADING",
        "baseAsset": market.base,
        "baseAssetPrecision": 8,
        "quoteAsset": market.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": "1000000.00000000",
                "tickSize": tick,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": step,
                "maxQty": "9000.00000000",
                "stepSize": step,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "0.00010000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info(markets: list[Market], server_ms: int) -> dict[str, Any]:
    """``GET /api/v3/exchangeInfo`` for the markets served."""
    return {
        "timezone": "UTC",
        "serverTime": server_ms,
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ],
        "exchangeFilters": [],
        "symbols": [symbol_info(m) for m in markets],
    }
