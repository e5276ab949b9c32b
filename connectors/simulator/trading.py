"""The simulator's signed spot trading endpoints, as ccxt calls them.

``POST``/``DELETE``/``GET /api/v3/order``, ``GET /api/v3/openOrders``, ``GET /api/v3/account``,
``GET /api/v3/myTrades`` (HMAC-SHA256 signed, ``timestamp`` and ``recvWindow`` checked, the key
in ``X-MBX-APIKEY``) and the listen-key endpoints ``/api/v3/userDataStream``. Orders go to the
:class:`~connectors.simulator.matching.MatchingEngine`; its executions reach the user-data
streams (:mod:`connectors.simulator.user_stream`). Refusals answer Binance's error JSON
(``{"code": -1022, "msg": "Signature for this request is not valid."}``).

Order faults (:class:`OrderFaults`) script what a venue does to a client on a bad day: accept an
order and answer too late for the client's timeout, refuse orders with a given error, and
(with the shared REST faults) answer 429.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from connectors.simulator import order_payloads as out
from connectors.simulator.catalogue import Market
from connectors.simulator.clock import SimClock
from connectors.simulator.liquidity import TapeLiquidity
from connectors.simulator.matching import MatchingConfig, MatchingEngine, OrderError
from connectors.simulator.signing import ApiKeys

DEFAULT_API_KEY = "simulator"
DEFAULT_SECRET = "simulator-secret"
"""The simulator's demo account (loopback only; never a real venue's key)."""

DEFAULT_BALANCES: dict[str, Decimal] = {
    "USDT": Decimal(1_000_000),
    "USDC": Decimal(1_000_000),
    "BTC": Decimal(10),
    "ETH": Decimal(1_000),
    "XRP": Decimal(100_000),
}


@dataclass(frozen=True, slots=True)
class OrderReject:
    code: int
    msg: str


class OrderFaults:
    """Scripted venue misbehaviour on the order endpoints (any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hang: deque[float] = deque()
        self._reject: deque[OrderReject] = deque()

    def timeout_after_accept(self, n: int = 1, seconds: float = 5.0) -> None:
        """The next ``n`` placements are booked, but answered only after ``seconds``."""
        with self._lock:
            self._hang.extend([seconds] * n)

    def reject_next(
        self,
        n: int = 1,
        code: int = -2010,
        msg: str = "Account has insufficient balance for requested action.",
    ) -> None:
        """Refuse the next ``n`` placements with Binance's ``code``/``msg``."""
        with self._lock:
            self._reject.extend([OrderReject(code, msg)] * n)

    def take_hang(self) -> float | None:
        with self._lock:
            return self._hang.popleft() if self._hang else None

    def take_reject(self) -> OrderReject | None:
        with self._lock:
            return self._reject.popleft() if self._reject else None

    def clear(self) -> None:
        with self._lock:
            self._hang.clear()
            self._reject.clear()


def _decimal(params: dict[str, str], name: str) -> Decimal | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise OrderError(-1100, f"Illegal characters found in parameter '{name}'.") from None


class TradingApi:
    """Accounts, signed endpoints and the matching engine of the simulated venue."""

    def __init__(
        self,
        markets: dict[str, Market],
        clock: SimClock,
        *,
        config: MatchingConfig | None = None,
        api_keys: dict[str, str] | None = None,
        balances: dict[str, Decimal] | None = None,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.markets = markets
        self.clock = clock
        self.config = config or MatchingConfig()
        self.keys = ApiKeys(api_keys or {DEFAULT_API_KEY: DEFAULT_SECRET})
        self.wall_ms = wall_ms
        self.liquidity = TapeLiquidity(markets, self.config, clock.now_ms())
        start = dict(DEFAULT_BALANCES if balances is None else balances)
        self.engine = MatchingEngine(
            self.config,
            self.liquidity.book,
            {key: dict(start) for key in (api_keys or {DEFAULT_API_KEY: DEFAULT_SECRET})},
        )
        self.faults = OrderFaults()
        self.listen_keys: dict[str, str] = {}
        self.placements_answered = 0
        self.refused: list[tuple[str, int, str]] = []
        """Placements the engine refused: ``(clientOrderId, code, message)``."""

    # --- wiring -------------------------------------------------------------------------------
    def install(self, app: web.Application) -> None:
        routes: list[tuple[str, str, Callable[[web.Request], Awaitable[Any]]]] = [
            ("POST", "/api/v3/order", self.new_order),
            ("DELETE", "/api/v3/order", self.cancel_order),
            ("GET", "/api/v3/order", self.get_order),
            ("GET", "/api/v3/openOrders", self.open_orders),
            ("GET", "/api/v3/account", self.account),
            ("GET", "/api/v3/myTrades", self.my_trades),
            ("GET", "/api/v3/depth", self.depth),
            ("POST", "/api/v3/userDataStream", self.new_listen_key),
            ("PUT", "/api/v3/userDataStream", self.keep_listen_key),
            ("DELETE", "/api/v3/userDataStream", self.close_listen_key),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, self._json(handler))

    def on_tick(self) -> None:
        """The clock moved: resting orders meet the trades and quotes printed since."""
        now = self.clock.now_ms()
        for market_id in self.markets:
            resting = self.engine.open_orders_in(market_id)
            buys = [float(o.price) for o in resting if o.side == "BUY" and o.price]
            sells = [float(o.price) for o in resting if o.side == "SELL" and o.price]
            trades = self.liquidity.trades_since_last(
                market_id, now, max(buys) if buys else None, min(sells) if sells else None
            )
            if trades:
                self.engine.on_market(market_id, trades, now)

    @staticmethod
    def _json(
        handler: Callable[[web.Request], Awaitable[Any]],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def wrapped(request: web.Request) -> web.Response:
            try:
                return web.json_response(await handler(request))
            except OrderError as exc:
                return web.json_response({"code": exc.code, "msg": exc.msg}, status=exc.status)

        return wrapped

    async def _signed(self, request: web.Request) -> tuple[str, dict[str, str]]:
        body = await request.text() if request.can_read_body else ""
        account = self.keys.verify(
            request.headers.get("X-MBX-APIKEY"),
            request.query_string,
            body,
            now_ms=self.wall_ms(),
        )
        params = dict(parse_qsl(request.query_string)) | dict(parse_qsl(body))
        params.pop("signature", None)
        return account, params

    def _market(self, params: dict[str, str]) -> Market:
        symbol = params.get("symbol")
        if not symbol:
            raise OrderError(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        market = self.markets.get(symbol)
        if market is None:
            raise OrderError(-1121, "Invalid symbol.")
        return market

    # --- endpoints ----------------------------------------------------------------------------
    async def new_order(self, request: web.Request) -> dict:
        account, params = await self._signed(request)
        market = self._market(params)
        reject = self.faults.take_reject()
        if reject is not None:
            raise OrderError(reject.code, reject.msg)
        quantity = _decimal(params, "quantity")
        if quantity is None:
            raise OrderError(-1102, "Mandatory parameter 'quantity' was not sent.")
        try:
            order = self.engine.place(
                account,
                market.market_id,
                market.base,
                market.quote,
                side=params.get("side", ""),
                kind=params.get("type", ""),
                quantity=quantity,
                price=_decimal(params, "price"),
                time_in_force=params.get("timeInForce"),
                client_id=params.get("newClientOrderId"),
                now_ms=self.clock.now_ms(),
            )
        except OrderError as exc:  # kept: tests check what was refused, and why
            self.refused.append((params.get("newClientOrderId", ""), exc.code, exc.msg))
            raise
        answer = out.new_order_full(order)
        hang = self.faults.take_hang()
        if hang is not None:  # accepted and booked; the answer comes too late for the client
            await asyncio.sleep(hang)
        self.placements_answered += 1
        return answer

    def _find(self, account: str, params: dict[str, str]) -> tuple[Market, Any]:
        market = self._market(params)
        order_id = params.get("orderId")
        order = self.engine.find(
            account,
            market.market_id,
            order_id=int(order_id) if order_id and order_id.isdigit() else None,
            client_id=params.get("origClientOrderId"),
        )
        return market, order

    async def cancel_order(self, request: web.Request) -> dict:
        account, params = await self._signed(request)
        market = self._market(params)
        order_id = params.get("orderId")
        order = self.engine.cancel(
            account,
            market.market_id,
            self.clock.now_ms(),
            order_id=int(order_id) if order_id and order_id.isdigit() else None,
            client_id=params.get("origClientOrderId"),
        )
        return out.cancelled_order(order, self.clock.now_ms())

    async def get_order(self, request: web.Request) -> dict:
        account, params = await self._signed(request)
        _, order = self._find(account, params)
        if order is None:
            raise OrderError(-2013, "Order does not exist.")
        return out.query_order(order)

    async def open_orders(self, request: web.Request) -> list:
        account, params = await self._signed(request)
        symbol = self._market(params).market_id if params.get("symbol") else None
        return [out.query_order(o) for o in self.engine.open_orders(account, symbol)]

    async def account(self, request: web.Request) -> dict:
        account, _ = await self._signed(request)
        return out.account(self.engine.free_and_locked(account), self.clock.now_ms())

    async def my_trades(self, request: web.Request) -> list:
        account, params = await self._signed(request)
        market = self._market(params)
        rows = list(self.engine.trades(account, market.market_id))
        order_id = params.get("orderId")
        if order_id:
            rows = [(o, f) for o, f in rows if str(o.order_id) == order_id]
        from_id = params.get("fromId")
        start, end = params.get("startTime"), params.get("endTime")
        if from_id:
            rows = [(o, f) for o, f in rows if f.trade_id >= int(from_id)]
        if start:
            rows = [(o, f) for o, f in rows if f.time_ms >= int(start)]
        if end:
            rows = [(o, f) for o, f in rows if f.time_ms <= int(end)]
        rows.sort(key=lambda r: r[1].trade_id)
        limit = int(params.get("limit") or 500)
        return [out.my_trade(o, f) for o, f in rows[:limit]]

    async def depth(self, request: web.Request) -> dict:
        """``GET /api/v3/depth``: the book the matching engine fills against, ``limit`` levels a
        side (of its ``depth_levels``)."""
        market = self._market(dict(request.query))
        try:
            limit = int(request.query.get("limit") or 100)
        except ValueError:
            raise OrderError(-1100, "Illegal characters found in parameter 'limit'.") from None
        now = self.clock.now_ms()
        book = self.liquidity.book(market.market_id, now)
        sides = {"bids": "SELL", "asks": "BUY"}  # a sell takes the bids, a buy the asks
        answer: dict[str, Any] = {"lastUpdateId": now}
        for name, taker in sides.items():
            levels = list(self.engine.levels(book, taker))[:limit] if book is not None else []
            answer[name] = [[out.amount(p), out.amount(q)] for p, q in levels]
        return answer

    async def new_listen_key(self, request: web.Request) -> dict:
        account = self.keys.known(request.headers.get("X-MBX-APIKEY"))
        key = secrets.token_hex(30)
        self.listen_keys[key] = account
        return {"listenKey": key}

    async def keep_listen_key(self, request: web.Request) -> dict:
        self.keys.known(request.headers.get("X-MBX-APIKEY"))
        key = request.query.get("listenKey", "")
        if key not in self.listen_keys:
            raise OrderError(-1125, "This listenKey does not exist.")
        return {}

    async def close_listen_key(self, request: web.Request) -> dict:
        self.keys.known(request.headers.get("X-MBX-APIKEY"))
        self.listen_keys.pop(request.query.get("listenKey", ""), None)
        return {}
