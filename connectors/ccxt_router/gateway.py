"""The exchange router's venue side: ccxt's unified API on its own event loop, never the flow's.

:class:`VenueGateway` runs a ccxt (``ccxt.pro``) exchange in a background thread. The trading
core hands it commands through :meth:`VenueGateway.send` (a queue: returns at once) and the
flow takes its reports back with :meth:`VenueGateway.drain` (see :mod:`.source`).

* **Placing** sends ``newClientOrderId`` = the order id (the idempotency key). A timeout, a
  dropped connection or a 5xx may hide an accepted order, so the gateway first looks the order
  up by that id and sends again (same id) only when the venue does not have it; a ``Duplicate
  order sent`` answer is looked up too. An order is therefore placed at most once however
  often it is retried.
* **Rate limits**: ccxt's limiter spaces requests (``enableRateLimit``); a 429/418 waits what
  ``Retry-After`` asks (else exponential backoff) before the same request is sent again.
* **Refusals** (insufficient balance, bad symbol, bad key …) become ``reject`` reports with the
  venue's code and message.
* **Reports**: order states from the REST answers and ``watch_orders``; fills from the REST
  answers, ``watch_my_trades`` and reconciliation — each with the venue's trade id, so the
  router books every fill once whichever path delivered it.
* **Quotes** (``quotes_every_seconds``): the venue's top of book as
  :class:`~schemas.market.BookTop` items with ``source`` = the venue's name, for smart order
  routing and the venues' price check.
* **Reconciliation** on start, after every user-stream reconnect and every
  ``reconcile_every_seconds``: the venue's open orders (reported, so the router can flag the
  ones the ledger does not know), its fills over ``lookback_seconds`` and its balances, for
  the symbols it trades (ccxt's limiter spaces these by Binance's weights: about 1.5 s a
  symbol).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from connectors.ccxt_router.config import VenueConfig, VenueCredentials
from connectors.feed.rest import BINANCE_SPOT_OPTIONS, point_at, retry_after_seconds
from connectors.gateway_thread import GatewayStats, GatewayThread  # noqa: F401 - re-exported
from schemas.common import Side
from schemas.market import BookTop
from schemas.trading import Liquidity, OrderStatus, OrderType
from schemas.venue import ReportKind, VenueCommand

_STATUS = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
}


def ccxt_pro() -> Any:
    import ccxt.pro

    return ccxt.pro


def make_pro_exchange(config: VenueConfig, credentials: VenueCredentials) -> Any:
    """A ``ccxt.pro`` exchange with its rate limiter on, signed with ``credentials``; the REST and
    WebSocket URLs point at ``config.rest_url``/``ws_url`` when set (the loopback simulator)."""
    pro = ccxt_pro()
    options: dict[str, Any] = {"recvWindow": config.recv_window_ms, "defaultType": "spot"}
    if config.exchange == "binance":
        options |= BINANCE_SPOT_OPTIONS | {"warnOnFetchOpenOrdersWithoutSymbol": False}
    exchange = getattr(pro, config.exchange)(
        {
            "apiKey": credentials.api_key.get_secret_value(),
            "secret": credentials.secret.get_secret_value(),
            "enableRateLimit": True,
            "timeout": config.timeout_ms,
            "options": options,
        }
    )
    if config.rest_url:
        point_at(exchange, config.rest_url)
    if config.ws_url:
        base = config.ws_url.rstrip("/")
        ws = exchange.urls["api"].get("ws")
        if isinstance(ws, dict):
            ws["spot"] = base + "/ws"
            if isinstance(ws.get("ws-api"), dict):
                ws["ws-api"]["spot"] = base + "/ws-api/v3"
    return exchange


def venue_reason(exc: BaseException) -> str:
    """The venue's own words from a ccxt error: ``code -2010: Duplicate order sent.``.

    >>> venue_reason(Exception('binance {"code":-2010,"msg":"Duplicate order sent."}'))
    'code -2010: Duplicate order sent.'
    >>> venue_reason(TimeoutError("read timeout"))
    'TimeoutError: read timeout'
    """
    text = str(exc)
    start = text.find("{")
    if start >= 0:
        try:
            body = orjson.loads(text[start:])
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict) and "msg" in body:
            return f"code {body.get('code')}: {body['msg']}"
    return f"{type(exc).__name__}: {text}"[:500]


class VenueGateway(GatewayThread):
    """One ccxt venue's connection: commands in (any thread), reports out (any thread)."""

    def __init__(
        self,
        config: VenueConfig,
        credentials: VenueCredentials,
        symbols: tuple[str, ...],
        *,
        exchange_factory: Callable[[], Any] | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(config.name, describe=venue_reason, wall=wall)
        self.config = config
        self.symbols = set(symbols)
        self._factory = exchange_factory or (lambda: make_pro_exchange(config, credentials))
        self._client_ids: dict[str, str] = {}  # venue order id -> our order id
        self.exchange: Any = None

    def __repr__(self) -> str:  # never the credentials
        return f"VenueGateway({self.config.name!r}, {self.config.exchange!r})"

    async def _connect(self) -> list[asyncio.Task[Any]]:
        self.exchange = self._factory()
        await self.exchange.load_markets()
        await self.reconcile("start")
        tasks = [
            asyncio.create_task(self._every(self.config.reconcile_every_seconds, self.reconcile))
        ]
        if self.config.quotes_every_seconds is not None:
            tasks.append(asyncio.create_task(self._quotes(self.config.quotes_every_seconds)))
        if self.config.watch:
            tasks.append(asyncio.create_task(self._watch("watch_my_trades")))
            tasks.append(asyncio.create_task(self._watch("watch_orders")))
        return tasks

    async def _close(self) -> None:
        if self.exchange is not None:
            with contextlib.suppress(Exception):
                await self.exchange.close()

    # --- placing ------------------------------------------------------------------------------
    async def _place(self, command: VenueCommand) -> None:
        ccxt = ccxt_pro()
        self.symbols.add(command.asset)
        limit = self.config.max_client_order_id
        if len(command.order_id) > limit:  # the venue would refuse it: say why, send nothing
            self.stats.rejected += 1
            self._report(
                ReportKind.REJECT,
                command.order_id,
                reason=f"client order id of {len(command.order_id)} characters: "
                f"{self.config.name} accepts at most {limit}",
            )
            return
        params: dict[str, Any] = {"newClientOrderId": command.order_id}
        kind = "limit" if command.order_type is OrderType.LIMIT else "market"
        if kind == "limit":
            params["timeInForce"] = command.time_in_force or "GTC"
        price = float(command.limit_price) if command.limit_price is not None else None
        delay = self.config.retry_wait_seconds
        for _attempt in range(self.config.place_attempts):
            self.stats.place_attempts += 1
            wait = delay
            try:
                order = await self.exchange.create_order(
                    command.asset,
                    kind,
                    command.side.value,
                    float(command.quantity),
                    price,
                    params,
                )
            except (ccxt.RateLimitExceeded, ccxt.DDoSProtection):  # not accepted: wait, resend
                self.stats.rate_limited += 1
                headers = getattr(self.exchange, "last_response_headers", None)
                wait = retry_after_seconds(headers) or delay
            except ccxt.NetworkError:  # timeout, 5xx, dropped: the venue may have it already
                if await self._look_up(command):
                    return
            except ccxt.InvalidOrder as exc:
                if "Duplicate order" not in str(exc):
                    self._reject(command, exc)
                    return
                if await self._look_up(command):  # it is there: report it, never resend
                    return
            except ccxt.BaseError as exc:
                self._reject(command, exc)
                return
            else:
                self._accepted()
                self.stats.placed += 1
                self._order(order, "rest")
                return
            await asyncio.sleep(min(wait, 30.0))
            delay = min(delay * 2, 30.0)
        if not await self._look_up(command):
            self._report(
                ReportKind.REJECT,
                command.order_id,
                reason=f"no answer from {self.config.name} after "
                f"{self.config.place_attempts} attempts",
            )

    async def _look_up(self, command: VenueCommand) -> bool:
        """Is the order at the venue (by its client id)? Reports it when it is."""
        ccxt = ccxt_pro()
        self.stats.lookups += 1
        try:
            order = await self.exchange.fetch_order(
                None, command.asset, {"origClientOrderId": command.order_id}
            )
        except ccxt.OrderNotFound:
            return False
        except ccxt.NetworkError:
            return False
        self.stats.found_by_lookup += 1
        self._order(order, "rest")
        await self._fills_of(order)
        return True

    async def _fills_of(self, order: dict[str, Any]) -> None:
        """The venue's fills of ``order`` (a looked-up order carries none)."""
        if not order.get("filled"):
            return
        trades = await self.exchange.fetch_my_trades(
            order["symbol"], params={"orderId": order["id"]}
        )
        for trade in trades:
            await self._trade(trade, "rest")

    def _reject(self, command: VenueCommand, exc: BaseException) -> None:
        self.stats.rejected += 1
        self._report(ReportKind.REJECT, command.order_id, reason=venue_reason(exc))

    async def _cancel(self, command: VenueCommand) -> None:
        ccxt = ccxt_pro()
        self.stats.cancels += 1
        try:
            order = await self.exchange.cancel_order(
                None, command.asset, {"origClientOrderId": command.order_id}
            )
        except ccxt.OrderNotFound:  # already done at the venue: report its final state
            await self._look_up(command)
            return
        self._order(order, "rest")

    # --- reports ------------------------------------------------------------------------------
    def _order(self, order: dict[str, Any], source: str) -> None:
        client_id = order.get("clientOrderId")
        if not client_id:
            return
        if order.get("id"):
            self._client_ids[str(order["id"])] = client_id
        raw = order.get("status")
        filled = Decimal(str(order.get("filled") or 0))
        status = _STATUS.get(raw or "")
        if status is None:
            status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.NEW
        reason = "expired at the venue (no more liquidity)" if raw == "expired" else ""
        amount = order.get("amount")
        self._report(
            ReportKind.STATUS,
            client_id,
            venue_order_id=str(order.get("id")),
            status=status,
            filled_quantity=filled,
            asset=order.get("symbol"),
            reason=reason,
            source=source,
            side=Side(order["side"]) if order.get("side") in ("buy", "sell") else None,
            order_quantity=Decimal(str(amount)) if amount else None,
            journaled=self._journaled(client_id),
        )
        for trade in order.get("trades") or []:
            if trade.get("id"):
                trade = {**trade, "order": order.get("id")}
                self._trade_known(trade, client_id, source, order.get("symbol"))

    async def _trade(self, trade: dict[str, Any], source: str) -> None:
        venue_id = str(trade.get("order"))
        client_id = self._client_ids.get(venue_id)
        if client_id is None:  # a fill of an order not placed through us (this run)
            try:
                order = await self.exchange.fetch_order(venue_id, trade["symbol"])
            except ccxt_pro().BaseError as exc:
                self.stats.errors.append(venue_reason(exc))
                return
            client_id = order.get("clientOrderId") or venue_id
            self._client_ids[venue_id] = client_id
            self._order(order, source)  # what the order is, before its fill
        self._trade_known(trade, client_id, source, trade.get("symbol"))

    def _trade_known(
        self, trade: dict[str, Any], client_id: str, source: str, symbol: str | None
    ) -> None:
        price = Decimal(str(trade["price"]))
        fee = trade.get("fee") or {}
        cost = Decimal(str(fee.get("cost") or 0))
        base = (symbol or "").split("/")[0]
        if fee.get("currency") == base:  # a fee taken in the base asset, in quote terms
            cost *= price
        liquidity = trade.get("takerOrMaker")
        stamp = trade.get("timestamp")
        if isinstance(stamp, int | float):  # the venue's time of the fill
            fields: dict[str, Any] = {"ts": datetime.fromtimestamp(stamp / 1000, UTC)}
        else:
            fields = {}
        self._report(
            ReportKind.FILL,
            client_id,
            venue_order_id=str(trade.get("order")),
            trade_id=str(trade["id"]),
            price=price,
            quantity=Decimal(str(trade["amount"])),
            fee=cost,
            fee_currency=fee.get("currency"),
            liquidity=Liquidity(liquidity) if liquidity in ("maker", "taker") else None,
            asset=symbol,
            source=source,
            **fields,
        )

    # --- streams and reconciliation -----------------------------------------------------------
    async def _watch(self, method: str) -> None:
        ccxt = ccxt_pro()
        delay = self.config.retry_wait_seconds
        while True:
            try:
                items = await getattr(self.exchange, method)()
            except ccxt.NetworkError as exc:
                self.stats.stream_disconnects += 1
                self.stats.errors.append(f"{method}: {venue_reason(exc)}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                with contextlib.suppress(ccxt.BaseError):
                    await self.exchange.authenticate()  # re-subscribed before we look back
                    await self.reconcile(f"{method} reconnect")
                continue
            delay = self.config.retry_wait_seconds
            for item in items:
                try:
                    if method == "watch_orders":
                        self._order(item, "stream")
                    else:
                        await self._trade(item, "stream")
                except Exception as exc:  # one bad message never stops the stream
                    self.stats.errors.append(f"{method}: {venue_reason(exc)}")

    async def _quotes(self, seconds: float) -> None:
        """Report the venue's top of book every ``seconds``, stamped with the venue's clock."""
        while True:
            try:
                stamp = datetime.fromtimestamp(await self.exchange.fetch_time() / 1000, UTC)
                for symbol in sorted(self.symbols):
                    book = await self.exchange.fetch_order_book(symbol, 5)
                    if book.get("bids") and book.get("asks"):
                        (bid, bid_size), (ask, ask_size) = book["bids"][0][:2], book["asks"][0][:2]
                        self._out.append(
                            BookTop(
                                symbol=symbol,
                                ts=stamp,
                                bid=bid,
                                ask=ask,
                                bid_size=bid_size,
                                ask_size=ask_size,
                                source=self.config.name,
                            )
                        )
            except Exception as exc:  # a missed quote is not fatal: the next round comes
                self.stats.errors.append(f"quotes: {venue_reason(exc)}")
            await asyncio.sleep(seconds)

    async def reconcile(self, reason: str) -> None:
        """Report the venue's open orders, recent fills and balances (see the module doc)."""
        # the venue's clock, not ours: fills are stamped with it
        since = int(await self.exchange.fetch_time() - self.config.lookback_seconds * 1000)
        for symbol in sorted(self.symbols):
            # per symbol: Binance weighs openOrders without a symbol 80, with one 6
            for order in await self.exchange.fetch_open_orders(symbol):
                self._order(order, "reconcile")
            for trade in await self.exchange.fetch_my_trades(symbol, since):
                await self._trade(trade, "reconcile")
        balance = await self.exchange.fetch_balance()
        totals = {
            asset: Decimal(str(total))
            for asset, total in (balance.get("total") or {}).items()
            if total is not None
        }
        self.stats.balances = {asset: str(total) for asset, total in totals.items() if total}
        self._report(ReportKind.BALANCES, "", balances=totals, source="reconcile")
        self.stats.reconciliations += 1
