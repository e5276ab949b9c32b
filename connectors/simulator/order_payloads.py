"""Binance spot's JSON shapes for orders, trades, balances and execution reports.

>>> from decimal import Decimal as D
>>> order = SimOrder(7, "cid-1", "k", "BTCUSDT", "BTC", "USDT", "BUY", "LIMIT", "GTC", D("1"),
...                  D("100"), 0, 0)
>>> query_order(order)["status"], query_order(order)["price"]
('NEW', '100.00000000')
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connectors.simulator.matching import Execution, SimFill, SimOrder

EIGHT = Decimal("0.00000001")


def amount(value: Decimal | None) -> str:
    """Binance's 8-decimal string."""
    return str((value or Decimal(0)).quantize(EIGHT))


def _common(order: SimOrder) -> dict[str, Any]:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_id,
        "price": amount(order.price),
        "origQty": amount(order.quantity),
        "executedQty": amount(order.executed),
        "cummulativeQuoteQty": amount(order.cum_quote),
        "status": order.status,
        "timeInForce": order.time_in_force or "GTC",
        "type": order.kind,
        "side": order.side,
        "selfTradePreventionMode": "NONE",
    }


def fill_entry(fill: SimFill) -> dict[str, Any]:
    return {
        "price": amount(fill.price),
        "qty": amount(fill.quantity),
        "commission": amount(fill.commission),
        "commissionAsset": fill.commission_asset,
        "tradeId": fill.trade_id,
    }


def new_order_full(order: SimOrder) -> dict[str, Any]:
    """``POST /api/v3/order`` answer, ``newOrderRespType=FULL``."""
    return {
        **_common(order),
        "transactTime": order.time_ms,
        "workingTime": order.time_ms,
        "origQuoteOrderQty": amount(Decimal(0)),
        "fills": [fill_entry(f) for f in order.fills],
    }


def query_order(order: SimOrder) -> dict[str, Any]:
    """``GET /api/v3/order`` and ``/openOrders`` entries."""
    return {
        **_common(order),
        "stopPrice": amount(Decimal(0)),
        "icebergQty": amount(Decimal(0)),
        "time": order.time_ms,
        "updateTime": order.update_ms,
        "isWorking": order.is_open,
        "workingTime": order.time_ms,
        "origQuoteOrderQty": amount(Decimal(0)),
    }


def cancelled_order(order: SimOrder, now_ms: int) -> dict[str, Any]:
    """``DELETE /api/v3/order`` answer."""
    return {
        **_common(order),
        "origClientOrderId": order.client_id,
        "clientOrderId": f"cancel-{order.order_id}",
        "transactTime": now_ms,
    }


def my_trade(order: SimOrder, fill: SimFill) -> dict[str, Any]:
    """One ``GET /api/v3/myTrades`` row."""
    return {
        "symbol": order.symbol,
        "id": fill.trade_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "price": amount(fill.price),
        "qty": amount(fill.quantity),
        "quoteQty": amount(fill.price * fill.quantity),
        "commission": amount(fill.commission),
        "commissionAsset": fill.commission_asset,
        "time": fill.time_ms,
        "isBuyer": order.side == "BUY",
        "isMaker": fill.maker,
        "isBestMatch": True,
    }


def account(balances: dict[str, tuple[Decimal, Decimal]], now_ms: int) -> dict[str, Any]:
    """``GET /api/v3/account``."""
    return {
        "makerCommission": 10,
        "takerCommission": 10,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "canTrade": True,
        "canWithdraw": False,
        "canDeposit": False,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": now_ms,
        "accountType": "SPOT",
        "balances": [
            {"asset": a, "free": amount(free), "locked": amount(locked)}
            for a, (free, locked) in balances.items()
        ],
        "permissions": ["SPOT"],
        "uid": 1,
    }


def execution_report(execution: Execution) -> dict[str, Any]:
    """The user-data stream's ``executionReport`` event."""
    order, fill = execution.order, execution.fill
    return {
        "e": "executionReport",
        "E": execution.time_ms,
        "s": order.symbol,
        "c": order.client_id,
        "S": order.side,
        "o": order.kind,
        "f": order.time_in_force or "GTC",
        "q": amount(order.quantity),
        "p": amount(order.price),
        "P": amount(Decimal(0)),
        "F": amount(Decimal(0)),
        "g": -1,
        "C": order.client_id if execution.execution_type == "CANCELED" else "",
        "x": execution.execution_type,
        "X": execution.status,
        "r": "NONE",
        "i": order.order_id,
        "l": amount(fill.quantity if fill else None),
        "z": amount(execution.executed),
        "L": amount(fill.price if fill else None),
        "n": amount(fill.commission if fill else None),
        "N": fill.commission_asset if fill else None,
        "T": execution.time_ms,
        "t": fill.trade_id if fill else -1,
        "I": 0,
        "w": execution.status == "NEW",
        "m": bool(fill and fill.maker),
        "M": False,
        "O": order.time_ms,
        "Z": amount(execution.cum_quote),
        "Y": amount(fill.price * fill.quantity if fill else None),
        "Q": amount(Decimal(0)),
        "W": order.time_ms,
        "V": "NONE",
    }


def account_position(
    balances: dict[str, tuple[Decimal, Decimal]], assets: tuple[str, ...], now_ms: int
) -> dict[str, Any]:
    """The user-data stream's ``outboundAccountPosition`` event for the assets that moved."""
    return {
        "e": "outboundAccountPosition",
        "E": now_ms,
        "u": now_ms,
        "B": [
            {"a": a, "f": amount(balances[a][0]), "l": amount(balances[a][1])}
            for a in assets
            if a in balances
        ],
    }
