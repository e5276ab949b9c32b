"""The simulator's Alpaca trading API: the endpoints and stream ``alpaca-py`` uses, on 127.0.0.1.

Served beside the Binance endpoints on the simulator's REST port (``TradingClient(...,
url_override=sim.rest_url)``, ``TradingStream(..., url_override=sim.rest_url + "/stream")``):

* ``POST /v2/orders`` (market and limit; ``client_order_id`` unique, at most 128 characters),
  ``GET /v2/orders`` (``status`` open/closed/all, ``after``, ``until``, ``limit``,
  ``direction``, ``symbols``), ``GET``/``DELETE /v2/orders/{id}``, ``DELETE /v2/orders``,
  ``GET /v2/orders:by_client_order_id``;
* ``GET /v2/account``, ``GET /v2/positions``, ``GET /v2/clock`` (XNYS regular sessions from
  :mod:`operators.candles.calendars`) and ``GET /v2/account/activities/FILL`` (every fill, with
  ``cum_qty``);
* the ``trade_updates`` WebSocket at ``/stream``: ``{"action": "authenticate", "data":
  {"key_id", "secret_key"}}`` → ``{"stream": "authorization", "data": {"status":
  "authorized", ...}}``, ``{"action": "listen", "data": {"streams": ["trade_updates"]}}`` →
  ``{"stream": "listening", ...}``, then ``new``/``fill``/``partial_fill``/``canceled``/
  ``expired`` events with the order as it stands after the event.

Keys go in ``APCA-API-KEY-ID``/``APCA-API-SECRET-KEY`` headers; errors answer Alpaca's
``{"code": 40010001, "message": "..."}`` with its HTTP status. Orders go to the simulator's
:class:`~connectors.simulator.matching.MatchingEngine` (its own instance: no fees, a cash
account in USD). A stock is priced by the constructed tape the loopback market-data servers
replay (``ExchangeSimulator(alpaca_tape=...)``: each ticker fills against that
:class:`~connectors.simulator.market_data_providers.StockTape`'s own trades and quotes, on the
simulator's clock, so a broker clock in step with the streams' fills at the prices they sent).
Without a tape, no intraday stock data ships with the repository: each listed ticker is priced
by one of the simulator's recorded markets (:data:`DEFAULT_LISTINGS`: ``AAPL`` by the BTC/USDC
one-minute bars), which exercises the protocol, the SDK and the matching, not a stock's price.
The venue fills at any hour (it does not queue an order for the next open): keeping to
the session is the router's job.

Faults (:class:`AlpacaFaults`): answer a placement after the client's timeout (booked all the
same), reject the next placements, answer 429, refuse new trade-updates connections; and
:meth:`AlpacaTradingApi.drop_streams` cuts the open ones.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from connectors.simulator.catalogue import Market
from connectors.simulator.clock import SimClock
from connectors.simulator.liquidity import TapeLiquidity
from connectors.simulator.matching import (
    Execution,
    MatchingConfig,
    MatchingEngine,
    OrderError,
    SimFill,
    SimOrder,
)
from operators.execution.market_hours import session_clock

DEFAULT_KEY_ID = "simulator"
DEFAULT_SECRET_KEY = "simulator-secret"
"""The simulator's Alpaca demo account (loopback only; never a real broker's key)."""

DEFAULT_LISTINGS: dict[str, str] = {"AAPL": "BTCUSDC"}
"""Alpaca ticker → the simulator market (Binance id) whose recorded tape prices it."""

DEFAULT_CASH = Decimal(1_000_000)
MAX_CLIENT_ORDER_ID = 128
SESSION_CALENDAR = "XNYS"
_NAMESPACE = uuid.UUID("6f1c3a52-8d7e-4b1a-9c55-0a1b2c3d4e5f")
_STATUS = {
    "NEW": "new",
    "PARTIALLY_FILLED": "partially_filled",
    "FILLED": "filled",
    "CANCELED": "canceled",
    "EXPIRED": "expired",
}
_EVENT = {"NEW": "new", "CANCELED": "canceled", "EXPIRED": "expired"}


class AlpacaError(Exception):
    """An answer with Alpaca's error body ``{"code", "message"}`` and HTTP ``status``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class AlpacaFaults:
    """Scripted broker misbehaviour (any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hang: deque[float] = deque()
        self._reject: deque[AlpacaError] = deque()
        self._limited = 0
        self.refuse_streams = False
        """Close every new trade-updates connection at once (clients keep reconnecting)."""

    def timeout_after_accept(self, n: int = 1, seconds: float = 5.0) -> None:
        """The next ``n`` placements are booked but answered only after ``seconds``."""
        with self._lock:
            self._hang.extend([seconds] * n)

    def reject_next(
        self, n: int = 1, status: int = 403, code: int = 40310000, message: str = ""
    ) -> None:
        """Refuse the next ``n`` placements (default: Alpaca's insufficient buying power)."""
        error = AlpacaError(status, code, message or "insufficient buying power")
        with self._lock:
            self._reject.extend([error] * n)

    def rate_limit_next(self, n: int = 1) -> None:
        """Answer the next ``n`` requests of any kind with 429 (not processed)."""
        with self._lock:
            self._limited += n

    def take(self, queue: str) -> Any:
        with self._lock:
            if queue == "limit":
                if self._limited:
                    self._limited -= 1
                    return True
                return None
            chosen = self._hang if queue == "hang" else self._reject
            return chosen.popleft() if chosen else None


def iso(ms: int) -> str:
    """Alpaca's RFC 3339 UTC timestamp.

    >>> iso(1_641_303_000_000)
    '2022-01-04T13:30:00Z'
    """
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _ms(text: str | None, name: str) -> int | None:
    if not text:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise AlpacaError(422, 40010001, f"invalid {name}: {text!r}") from None


def _number(value: Any, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise AlpacaError(422, 40010001, f"invalid {name}: {value!r}") from None
    if not number.is_finite() or number <= 0:
        raise AlpacaError(422, 40010001, f"{name} must be > 0")
    return number


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


@dataclass(slots=True, eq=False)
class _Listener:
    ws: web.WebSocketResponse
    request: web.Request
    account: str | None = None
    listening: bool = False
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


class AlpacaTradingApi:
    """Accounts, endpoints and the trade-updates stream of the simulated Alpaca broker."""

    def __init__(
        self,
        markets: dict[str, Market],
        clock: SimClock,
        *,
        listings: dict[str, str] | None = None,
        keys: dict[str, str] | None = None,
        cash: Decimal = DEFAULT_CASH,
    ) -> None:
        self.clock = clock
        self.listings = dict(DEFAULT_LISTINGS if listings is None else listings)
        for ticker, market_id in self.listings.items():
            if market_id not in markets:
                raise ValueError(f"listing {ticker}: the simulator has no market {market_id!r}")
        self.markets = {mid: markets[mid] for mid in set(self.listings.values())}
        self.keys = dict(keys or {DEFAULT_KEY_ID: DEFAULT_SECRET_KEY})
        config = MatchingConfig(taker_bps=Decimal(0), maker_bps=Decimal(0))
        self.liquidity = TapeLiquidity(self.markets, config, clock.now_ms())
        self.engine = MatchingEngine(
            config,
            lambda ticker, now: self.liquidity.book(self.listings[ticker], now),
            {key: {"USD": cash} for key in self.keys},
        )
        self.engine.listeners.append(self._on_execution)
        self.faults = AlpacaFaults()
        self._ids: dict[str, int] = {}  # order uuid -> engine id
        self._listeners: set[_Listener] = set()
        self.placements_answered = 0
        self.stream_connections = 0

    # --- wiring -------------------------------------------------------------------------------
    def install(self, app: web.Application) -> None:
        routes: list[tuple[str, str, Callable[[web.Request], Awaitable[Any]]]] = [
            ("POST", "/v2/orders", self.new_order),
            ("GET", "/v2/orders", self.list_orders),
            ("DELETE", "/v2/orders", self.cancel_all),
            ("GET", "/v2/orders:by_client_order_id", self.by_client_id),
            ("GET", "/v2/orders/{order_id}", self.get_order),
            ("DELETE", "/v2/orders/{order_id}", self.cancel_order),
            ("GET", "/v2/account", self.account),
            ("GET", "/v2/positions", self.positions),
            ("GET", "/v2/clock", self.market_clock),
            ("GET", "/v2/account/activities/FILL", self.fill_activities),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, self._json(handler))
        app.router.add_get("/stream", self.stream)

    def on_tick(self) -> None:
        """The clock moved: resting limit orders meet the trades printed since."""
        now = self.clock.now_ms()
        for ticker, market_id in self.listings.items():
            resting = [o for o in self.engine.open_orders_in(ticker) if o.price is not None]
            buys = [float(o.price) for o in resting if o.side == "BUY" and o.price]
            sells = [float(o.price) for o in resting if o.side == "SELL" and o.price]
            trades = self.liquidity.trades_since_last(
                market_id, now, max(buys) if buys else None, min(sells) if sells else None
            )
            if trades:
                self.engine.on_market(ticker, trades, now)

    def drop_streams(self) -> int:
        """Abort every trade-updates connection (no close frame); returns how many."""
        listeners = list(self._listeners)
        for listener in listeners:
            if listener.request.transport is not None:
                listener.request.transport.abort()
        return len(listeners)

    def _json(
        self, handler: Callable[[web.Request], Awaitable[Any]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def wrapped(request: web.Request) -> web.Response:
            try:
                if self.faults.take("limit"):
                    raise AlpacaError(429, 42910000, "rate limit exceeded")
                body = await handler(request)
            except AlpacaError as exc:
                return web.json_response(
                    {"code": exc.code, "message": exc.message}, status=exc.status
                )
            if body is None:
                return web.Response(status=204)
            status = 207 if request.method == "DELETE" and isinstance(body, list) else 200
            return web.Response(
                body=orjson.dumps(body), status=status, content_type="application/json"
            )

        return wrapped

    def _account(self, request: web.Request) -> str:
        key = request.headers.get("APCA-API-KEY-ID", "")
        if key not in self.keys or self.keys[key] != request.headers.get("APCA-API-SECRET-KEY"):
            raise AlpacaError(401, 40110000, "request is not authorized")
        return key

    # --- orders -------------------------------------------------------------------------------
    def order_uuid(self, order: SimOrder) -> str:
        """The order's Alpaca id (a UUID derived from the engine's id)."""
        order_id = str(uuid.uuid5(_NAMESPACE, f"order-{order.order_id}"))
        self._ids[order_id] = order.order_id
        return order_id

    def order_json(self, order: SimOrder) -> dict[str, Any]:
        """An order as ``/v2/orders`` shows it."""
        average = order.cum_quote / order.executed if order.executed else None
        status = _STATUS[order.status]
        done = iso(order.update_ms)
        return {
            "id": self.order_uuid(order),
            "client_order_id": order.client_id,
            "created_at": iso(order.time_ms),
            "updated_at": iso(order.update_ms),
            "submitted_at": iso(order.time_ms),
            "filled_at": done if status == "filled" else None,
            "expired_at": done if status == "expired" else None,
            "canceled_at": done if status == "canceled" else None,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": str(uuid.uuid5(_NAMESPACE, f"asset-{order.symbol}")),
            "symbol": order.symbol,
            "asset_class": "us_equity",
            "notional": None,
            "qty": _text(order.quantity),
            "filled_qty": _text(order.executed) or "0",
            "filled_avg_price": _text(average),
            "order_class": "simple",
            "order_type": order.kind.lower(),
            "type": order.kind.lower(),
            "side": order.side.lower(),
            "time_in_force": (order.time_in_force or "day").lower(),
            "limit_price": _text(order.price),
            "stop_price": None,
            "status": status,
            "extended_hours": False,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "position_intent": "buy_to_open" if order.side == "BUY" else "sell_to_close",
        }

    def _sim_order(self, account: str, order_id: str) -> SimOrder:
        engine_id = self._ids.get(order_id)
        order = self.engine.orders.get(engine_id) if engine_id is not None else None
        if order is None or order.account != account:
            raise AlpacaError(404, 40410000, "order not found")
        return order

    async def new_order(self, request: web.Request) -> dict[str, Any]:
        account = self._account(request)
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise AlpacaError(400, 40010000, "request body format is invalid") from None
        if not isinstance(body, dict):
            raise AlpacaError(400, 40010000, "request body format is invalid")
        reject = self.faults.take("reject")
        if reject is not None:
            raise reject
        ticker = str(body.get("symbol") or "")
        if ticker not in self.listings:
            raise AlpacaError(422, 40010001, f"asset not found: {ticker!r}")
        client_id = str(body.get("client_order_id") or uuid.uuid4())
        if len(client_id) > MAX_CLIENT_ORDER_ID:
            raise AlpacaError(
                422, 40010001, f"client_order_id must be at most {MAX_CLIENT_ORDER_ID} characters"
            )
        quantity = _number(body.get("qty"), "qty")
        if quantity is None:
            raise AlpacaError(422, 40010001, "qty is required")
        kind = str(body.get("type") or "").upper()
        tif = str(body.get("time_in_force") or "").lower()
        if tif not in ("day", "gtc", "ioc", "fok"):
            raise AlpacaError(422, 40010001, f"invalid time_in_force: {tif!r}")
        try:
            order = self.engine.place(
                account,
                ticker,
                ticker,
                "USD",
                side=str(body.get("side") or "").upper(),
                kind=kind,
                quantity=quantity,
                price=_number(body.get("limit_price"), "limit_price"),
                # a day order rests like GTC here: the simulated day never ends
                time_in_force="GTC" if tif == "day" and kind == "LIMIT" else tif.upper(),
                client_id=client_id,
                now_ms=self.clock.now_ms(),
            )
        except OrderError as exc:
            raise _alpaca_error(exc, body) from None
        answer = self.order_json(order)
        hang = self.faults.take("hang")
        if hang is not None:  # booked; the answer comes too late for the client
            await asyncio.sleep(hang)
        self.placements_answered += 1
        return answer

    async def list_orders(self, request: web.Request) -> list[dict[str, Any]]:
        account = self._account(request)
        query = request.query
        status = query.get("status", "open")
        after, until = _ms(query.get("after"), "after"), _ms(query.get("until"), "until")
        symbols = set(query.get("symbols", "").split(",")) - {""}
        orders = [
            o
            for o in self.engine.orders.values()
            if o.account == account
            and (status == "all" or (status == "open") == o.is_open)
            and (after is None or o.time_ms > after)
            and (until is None or o.time_ms <= until)
            and (not symbols or o.symbol in symbols)
        ]
        orders.sort(key=lambda o: o.order_id, reverse=query.get("direction", "desc") == "desc")
        limit = int(query.get("limit") or 50)
        return [self.order_json(o) for o in orders[: min(limit, 500)]]

    async def by_client_id(self, request: web.Request) -> dict[str, Any]:
        account = self._account(request)
        client_id = request.query.get("client_order_id", "")
        for order in self.engine.orders.values():
            if order.account == account and order.client_id == client_id:
                return self.order_json(order)
        raise AlpacaError(404, 40410000, "order not found")

    async def get_order(self, request: web.Request) -> dict[str, Any]:
        order = self._sim_order(self._account(request), request.match_info["order_id"])
        return self.order_json(order)

    async def cancel_order(self, request: web.Request) -> None:
        account = self._account(request)
        order = self._sim_order(account, request.match_info["order_id"])
        if not order.is_open:
            raise AlpacaError(422, 42210000, f"order is already in {_STATUS[order.status]} state")
        self.engine.cancel(
            account, order.symbol, self.clock.now_ms(), order_id=order.order_id, client_id=None
        )
        return None

    async def cancel_all(self, request: web.Request) -> list[dict[str, Any]]:
        account = self._account(request)
        now, out = self.clock.now_ms(), []
        for order in self.engine.open_orders(account):
            self.engine.cancel(account, order.symbol, now, order_id=order.order_id, client_id=None)
            out.append({"id": self.order_uuid(order), "status": 200, "body": None})
        return out

    # --- account ------------------------------------------------------------------------------
    def _marks(self) -> dict[str, Decimal]:
        now = self.clock.now_ms()
        marks = {}
        for ticker, market_id in self.listings.items():
            book = self.liquidity.book(market_id, now)
            if book is not None:
                marks[ticker] = (book.bid + book.ask) / 2
        return marks

    def _holdings(self, account: str) -> dict[str, Decimal]:
        return {a: q for a, q in self.engine.balances[account].items() if a != "USD" and q != 0}

    async def account(self, request: web.Request) -> dict[str, Any]:
        account = self._account(request)
        cash = self.engine.balances[account].get("USD", Decimal(0))
        free = cash - self.engine.locked[account].get("USD", Decimal(0))
        marks = self._marks()
        long_value = sum(
            (q * marks.get(a, Decimal(0)) for a, q in self._holdings(account).items()),
            Decimal(0),
        )
        equity = cash + long_value
        return {
            "id": str(uuid.uuid5(_NAMESPACE, f"account-{account}")),
            "account_number": "SIM" + uuid.uuid5(_NAMESPACE, account).hex[:9].upper(),
            "status": "ACTIVE",
            "crypto_status": "INACTIVE",
            "currency": "USD",
            "buying_power": _text(free) or "0",
            "regt_buying_power": _text(free) or "0",
            "non_marginable_buying_power": _text(free) or "0",
            "cash": _text(cash) or "0",
            "portfolio_value": _text(equity) or "0",
            "equity": _text(equity) or "0",
            "last_equity": _text(equity) or "0",
            "long_market_value": _text(long_value) or "0",
            "short_market_value": "0",
            "multiplier": "1",
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "shorting_enabled": False,
            "daytrade_count": 0,
            "created_at": iso(0),
        }

    async def positions(self, request: web.Request) -> list[dict[str, Any]]:
        account = self._account(request)
        marks = self._marks()
        out = []
        for ticker, qty in sorted(self._holdings(account).items()):
            bought = [
                (f.price, f.quantity)
                for o, f in self.engine.trades(account, ticker)
                if o.side == "BUY"
            ]
            paid = sum((p * q for p, q in bought), Decimal(0))
            units = sum((q for _, q in bought), Decimal(0))
            average = paid / units if units else Decimal(0)
            mark = marks.get(ticker, average)
            out.append(
                {
                    "asset_id": str(uuid.uuid5(_NAMESPACE, f"asset-{ticker}")),
                    "symbol": ticker,
                    "exchange": "NASDAQ",
                    "asset_class": "us_equity",
                    "avg_entry_price": _text(average) or "0",
                    "qty": _text(qty),
                    "qty_available": _text(qty),
                    "side": "long" if qty > 0 else "short",
                    "market_value": _text(qty * mark),
                    "cost_basis": _text(qty * average) or "0",
                    "current_price": _text(mark),
                }
            )
        return out

    async def market_clock(self, request: web.Request) -> dict[str, Any]:
        self._account(request)
        now = self.clock.now_ms()
        # the first call builds the exchange calendar (seconds): off the event loop
        is_open, next_open, next_close = await asyncio.to_thread(
            session_clock, now * 1_000_000, SESSION_CALENDAR
        )
        return {
            "timestamp": iso(now),
            "is_open": is_open,
            "next_open": iso(next_open // 1_000_000),
            "next_close": iso(next_close // 1_000_000),
        }

    async def fill_activities(self, request: web.Request) -> list[dict[str, Any]]:
        account = self._account(request)
        after, until = (
            _ms(request.query.get("after"), "after"),
            _ms(request.query.get("until"), "until"),
        )
        rows = [
            (o, f)
            for o in self.engine.orders.values()
            if o.account == account
            for f in o.fills
            if (after is None or f.time_ms > after) and (until is None or f.time_ms <= until)
        ]
        rows.sort(key=lambda r: r[1].trade_id)
        token = request.query.get("page_token")
        if token:
            rows = [r for r in rows if self._activity_id(*r) > token]
        size = int(request.query.get("page_size") or 100)
        return [self._activity(o, f) for o, f in rows[: min(size, 100)]]

    def _activity_id(self, order: SimOrder, fill: SimFill) -> str:
        stamp = datetime.fromtimestamp(fill.time_ms / 1000, UTC).strftime("%Y%m%d%H%M%S%f")[:17]
        return f"{stamp}::{self._execution_id(fill)}"

    def _activity(self, order: SimOrder, fill: SimFill) -> dict[str, Any]:
        cum = sum((f.quantity for f in order.fills if f.trade_id <= fill.trade_id), Decimal(0))
        done = cum == order.quantity
        return {
            "id": self._activity_id(order, fill),
            "activity_type": "FILL",
            "transaction_time": iso(fill.time_ms),
            "type": "fill" if done else "partial_fill",
            "price": _text(fill.price),
            "qty": _text(fill.quantity),
            "side": order.side.lower(),
            "symbol": order.symbol,
            "leaves_qty": _text(order.quantity - cum) or "0",
            "order_id": self.order_uuid(order),
            "cum_qty": _text(cum),
            "order_status": "filled" if done else "partially_filled",
        }

    @staticmethod
    def _execution_id(fill: SimFill) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"fill-{fill.trade_id}"))

    # --- trade updates ------------------------------------------------------------------------
    def _on_execution(self, execution: Execution) -> None:
        order, fill = execution.order, execution.fill
        if fill is not None:
            event = "fill" if execution.status == "FILLED" else "partial_fill"
        else:
            event = _EVENT.get(execution.execution_type, execution.execution_type.lower())
        data: dict[str, Any] = {
            "event": event,
            "order": self.order_json(order),
            "timestamp": iso(execution.time_ms),
        }
        if fill is not None:
            held = self.engine.balances[order.account].get(order.symbol, Decimal(0))
            data |= {
                "execution_id": self._execution_id(fill),
                "price": _text(fill.price),
                "qty": _text(fill.quantity),
                "position_qty": _text(held) or "0",
            }
        frame = orjson.dumps({"stream": "trade_updates", "data": data}).decode()
        for listener in list(self._listeners):
            if listener.listening and listener.account == order.account:
                listener.queue.put_nowait(frame)

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        if self.faults.refuse_streams:
            await ws.close(code=1013, message=b"try again later")
            return ws
        listener = _Listener(ws, request)
        self._listeners.add(listener)
        self.stream_connections += 1
        sender = asyncio.create_task(self._send_loop(listener))
        try:
            async for message in ws:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                listener.queue.put_nowait(
                    orjson.dumps(self._control(listener, message.data)).decode()
                )
        finally:
            self._listeners.discard(listener)
            listener.queue.put_nowait(None)
            await asyncio.gather(sender, return_exceptions=True)
        return ws

    def _control(self, listener: _Listener, text: str | bytes) -> dict[str, Any]:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            return {"stream": "error", "data": {"error_message": "invalid syntax"}}
        action = request.get("action") if isinstance(request, dict) else None
        data = request.get("data") or {} if isinstance(request, dict) else {}
        if action in ("authenticate", "auth"):
            key = data.get("key_id")
            if key in self.keys and self.keys[key] == data.get("secret_key"):
                listener.account = key
                return {
                    "stream": "authorization",
                    "data": {"status": "authorized", "action": "authenticate"},
                }
            return {
                "stream": "authorization",
                "data": {"status": "unauthorized", "action": "authenticate"},
            }
        if action == "listen":
            if listener.account is None:
                return {"stream": "error", "data": {"error_message": "not authenticated"}}
            streams = [s for s in data.get("streams") or [] if s == "trade_updates"]
            listener.listening = bool(streams)
            return {"stream": "listening", "data": {"streams": streams}}
        return {"stream": "error", "data": {"error_message": f"unknown action {action!r}"}}

    @staticmethod
    async def _send_loop(listener: _Listener) -> None:
        while (frame := await listener.queue.get()) is not None:
            try:
                await listener.ws.send_str(frame)
            except ConnectionError:
                return


def _alpaca_error(exc: OrderError, body: dict[str, Any]) -> AlpacaError:
    """The matching engine's (Binance-worded) refusal as Alpaca says it."""
    if exc.code == -2010 and "Duplicate" in exc.msg:
        return AlpacaError(422, 40010001, "client_order_id must be unique")
    if exc.code == -2010:
        if str(body.get("side")).lower() == "sell":
            return AlpacaError(403, 40310000, "insufficient qty available for order")
        return AlpacaError(403, 40310000, "insufficient buying power")
    if "closed" in exc.msg:
        return AlpacaError(422, 40010001, "no quote for the asset yet")
    return AlpacaError(422, 40010001, exc.msg)
