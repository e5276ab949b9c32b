"""The stock router's broker side: Alpaca's trading API through the official ``alpaca-py`` SDK.

:class:`AlpacaGateway` runs a :class:`~alpaca.trading.client.TradingClient` (blocking HTTP,
called from worker threads) and a :class:`~alpaca.trading.stream.TradingStream` on its own
event loop (:class:`~connectors.gateway_thread.GatewayThread`): commands in, reports out, the
same :class:`~schemas.venue.VenueReport` items the ccxt router produces, so the live router's
reconciliation (fills booked once per trade id, unknown orders, balances) is the one for both.

* **Placing** sends ``client_order_id`` = the order id (the idempotency key; at most 128
  characters). A timeout, a dropped connection or a 5xx may hide an accepted order: the gateway
  looks the order up (``GET /v2/orders:by_client_order_id``) before it sends again with the
  same id; a ``client_order_id must be unique`` answer is looked up too. Placed at most once.
* **Rate limits**: a 429 is resent by the SDK (``rate_limit_retries``, ``retry_wait_seconds``
  apart; only 429, which Alpaca answers before processing); when those run out the gateway
  waits and sends again, doubling the wait.
* **Refusals** (buying power, unknown asset, bad key …) become ``reject`` reports with
  Alpaca's code and message.
* **Fills** have one identity whatever path reports them: ``<order id>:<cumulative quantity
  after the fill>`` — the ``trade_updates`` stream's order snapshot and the fill activities'
  ``cum_qty`` give the same key, so a fill seen on both is booked once.
* **Reconciliation** on start, after every stream reconnect and every
  ``reconcile_every_seconds``: open orders, the fill activities over ``lookback_seconds`` of
  the broker's clock, and the positions and cash (``USD``) as a balances report.

The keys are handed to the SDK and nowhere else: never logged, printed or put in a report.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce, TradeEvent
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.models import TradeUpdate
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
from alpaca.trading.stream import TradingStream
from requests.adapters import HTTPAdapter

from connectors.alpaca_router.config import MAX_CLIENT_ORDER_ID, AlpacaConfig
from connectors.ccxt_router.config import VenueCredentials
from connectors.gateway_thread import GatewayThread
from schemas.common import Side
from schemas.trading import OrderStatus, OrderType
from schemas.venue import ReportKind, VenueCommand

_STATUS = {
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
    "done_for_day": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
}
PAGE_SIZE = 100


def alpaca_reason(exc: BaseException) -> str:
    """Alpaca's own words from an SDK error: ``HTTP 403 code 40310000: insufficient ...``.

    >>> alpaca_reason(APIError('{"code": 40310000, "message": "insufficient buying power"}'))
    'HTTP ? code 40310000: insufficient buying power'
    >>> alpaca_reason(TimeoutError("read timeout"))
    'TimeoutError: read timeout'
    """
    if isinstance(exc, APIError):
        try:
            body = orjson.loads(str(exc))
        except orjson.JSONDecodeError:
            body = None
        status = exc.status_code or "?"
        if isinstance(body, dict) and "message" in body:
            return f"HTTP {status} code {body.get('code')}: {body['message']}"
        return f"HTTP {status}: {str(exc)[:300]}"
    return f"{type(exc).__name__}: {exc}"[:500]


def fill_key(venue_order_id: str, cumulative: Any) -> str:
    """A fill's identity: the order and its cumulative filled quantity after the fill.

    >>> fill_key("a1", "0.50"), fill_key("a1", 0.5), fill_key("a1", "2")
    ('a1:0.5', 'a1:0.5', 'a1:2')
    """
    return f"{venue_order_id}:{_decimal(cumulative)}"


def _decimal(value: Any) -> str:
    return format(Decimal(str(value)).normalize(), "f")


class _TimeoutAdapter(HTTPAdapter):
    """The SDK sends without a timeout; every request of the router has one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(self, request: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def make_trading_client(
    config: AlpacaConfig,
    credentials: VenueCredentials,
    on_response: Callable[[requests.Response], None] | None = None,
) -> TradingClient:
    """A ``TradingClient`` pointed at ``config.url_override`` (when set), with a timeout on every
    request and the SDK's resend limited to 429 answers."""
    client = TradingClient(
        credentials.api_key.get_secret_value(),
        credentials.secret.get_secret_value(),
        paper=config.paper,
        url_override=config.url_override,
    )
    session: requests.Session = client._session
    adapter = _TimeoutAdapter(config.timeout_seconds)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if on_response is not None:
        session.hooks["response"].append(lambda response, *a, **k: on_response(response))
    # 429 only: Alpaca answers it before processing. A 504 may hide an accepted order, which
    # the gateway looks up before sending again (the SDK would resend blindly).
    client._retry = config.rate_limit_retries
    client._retry_wait = config.retry_wait_seconds
    client._retry_codes = [429]
    return client


class _TradeUpdates(TradingStream):
    """The SDK's trade-updates stream, telling the gateway each time it (re)connects."""

    def __init__(self, on_connected: Callable[[], None], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_connected = on_connected

    async def _start_ws(self) -> None:
        await super()._start_ws()  # connected, authorized, listening
        self._on_connected()


class AlpacaGateway(GatewayThread):
    """One Alpaca account's connection: commands in (any thread), reports out (any thread)."""

    def __init__(
        self,
        config: AlpacaConfig,
        credentials: VenueCredentials,
        symbols: tuple[str, ...],
        *,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(config.name, describe=alpaca_reason, wall=wall)
        self.config = config
        self.symbols = set(symbols)
        self._credentials = credentials
        self._client_ids: dict[str, str] = {}  # Alpaca order id -> our order id
        self._venue_ids: dict[str, str] = {}  # our order id -> Alpaca order id
        self._connects = 0
        self._listening: asyncio.Event | None = None
        self.client: TradingClient | None = None
        self.stream: _TradeUpdates | None = None

    def __repr__(self) -> str:  # never the credentials
        return f"AlpacaGateway({self.config.name!r})"

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    def _counted(self, response: requests.Response) -> None:
        if response.status_code == 429:
            self.stats.rate_limited += 1

    # --- connection ---------------------------------------------------------------------------
    async def _connect(self) -> list[asyncio.Task[Any]]:
        self.client = make_trading_client(self.config, self._credentials, self._counted)
        await self.reconcile("start")
        tasks = [
            asyncio.create_task(self._every(self.config.reconcile_every_seconds, self.reconcile))
        ]
        if self.config.watch:
            self._listening = asyncio.Event()
            self.stream = _TradeUpdates(
                self._stream_connected,
                self._credentials.api_key.get_secret_value(),
                self._credentials.secret.get_secret_value(),
                paper=self.config.paper,
                url_override=self.config.stream_endpoint,
            )
            self.stream._reconnect_min_backoff = self.config.retry_wait_seconds
            self.stream._reconnect_max_backoff = max(5.0, self.config.retry_wait_seconds)
            self.stream.subscribe_trade_updates(self._on_update)
            tasks.append(asyncio.create_task(self.stream._run_forever()))
            try:
                await asyncio.wait_for(self._listening.wait(), self.config.timeout_seconds * 3)
            except TimeoutError:
                for task in tasks:
                    task.cancel()
                raise TimeoutError("the trade_updates stream did not authorize") from None
        return tasks

    def _stream_connected(self) -> None:
        self._connects += 1
        if self._listening is not None:
            self._listening.set()
        if self._connects > 1:  # a reconnect: what happened meanwhile comes from the REST side
            self.stats.stream_disconnects += 1
            task = asyncio.get_running_loop().create_task(self._reconcile_logged("reconnect"))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _reconcile_logged(self, reason: str) -> None:
        try:
            await self.reconcile(reason)
        except Exception as exc:
            self.stats.errors.append(f"reconcile: {alpaca_reason(exc)}")

    async def _close(self) -> None:
        if self.stream is not None:
            with contextlib.suppress(Exception):
                await self.stream.stop_ws()
                await self.stream.close()

    # --- placing ------------------------------------------------------------------------------
    def _request(self, command: VenueCommand) -> MarketOrderRequest | LimitOrderRequest:
        assert command.side is not None
        fields: dict[str, Any] = {
            "symbol": command.asset,
            "qty": float(command.quantity),
            "side": OrderSide.BUY if command.side.value == "buy" else OrderSide.SELL,
            "client_order_id": command.order_id,
        }
        if command.order_type is OrderType.LIMIT and command.limit_price is not None:
            tif = TimeInForce((command.time_in_force or "day").lower())
            return LimitOrderRequest(
                **fields, limit_price=float(command.limit_price), time_in_force=tif
            )
        return MarketOrderRequest(**fields, time_in_force=TimeInForce.DAY)

    async def _place(self, command: VenueCommand) -> None:
        assert self.client is not None
        self.symbols.add(command.asset)
        if len(command.order_id) > MAX_CLIENT_ORDER_ID:
            self.stats.rejected += 1
            self._report(
                ReportKind.REJECT,
                command.order_id,
                reason=f"client order id of {len(command.order_id)} characters: Alpaca "
                f"accepts at most {MAX_CLIENT_ORDER_ID}",
            )
            return
        request = self._request(command)
        delay = self.config.retry_wait_seconds
        for _attempt in range(self.config.place_attempts):
            self.stats.place_attempts += 1
            try:
                order = await self._call(self.client.submit_order, request)
            except APIError as exc:
                status = exc.status_code or 0
                duplicate = status == 422 and "client_order_id must be unique" in str(exc)
                if status == 429:
                    pass  # not processed: wait and send again
                elif duplicate or status >= 500:  # it may be there: never resend blindly
                    if await self._look_up(command):
                        return
                else:
                    self.stats.rejected += 1
                    self._report(ReportKind.REJECT, command.order_id, reason=alpaca_reason(exc))
                    return
            except requests.RequestException:  # timeout, reset: the broker may have it
                if await self._look_up(command):
                    return
            else:
                self._accepted()
                self.stats.placed += 1
                await self._order_and_fills(order, "rest")
                return
            await asyncio.sleep(min(delay, 30.0))
            delay = min(delay * 2, 30.0)
        if not await self._look_up(command):
            self._report(
                ReportKind.REJECT,
                command.order_id,
                reason=f"no answer from {self.name} after {self.config.place_attempts} attempts",
            )

    async def _look_up(self, command: VenueCommand) -> bool:
        """Is the order at the broker (by its client order id)? Reports it when it is."""
        assert self.client is not None
        self.stats.lookups += 1
        try:
            order = await self._call(self.client.get_order_by_client_id, command.order_id)
        except (APIError, requests.RequestException):  # not there, or no answer: not known
            return False
        self.stats.found_by_lookup += 1
        await self._order_and_fills(order, "rest")
        return True

    async def _cancel(self, command: VenueCommand) -> None:
        assert self.client is not None
        self.stats.cancels += 1
        venue_id = self._venue_ids.get(command.order_id)
        if venue_id is None:
            if not await self._look_up(command):
                self._report(
                    ReportKind.STATUS,
                    command.order_id,
                    status=OrderStatus.CANCELLED,
                    reason="cancel: the broker does not know the order",
                    source="rest",
                )
                return
            venue_id = self._venue_ids[command.order_id]
        try:
            await self._call(self.client.cancel_order_by_id, venue_id)
        except APIError as exc:  # already done (422) or gone: its final state is reported below
            self.stats.errors.append(f"cancel {command.order_id}: {alpaca_reason(exc)}")
        order = await self._call(self.client.get_order_by_id, venue_id)
        self._order(order, "rest")

    # --- reports ------------------------------------------------------------------------------
    def _order(self, order: AlpacaOrder, source: str) -> None:
        client_id, venue_id = order.client_order_id, str(order.id)
        self._client_ids[venue_id], self._venue_ids[client_id] = client_id, venue_id
        raw = order.status.value if hasattr(order.status, "value") else str(order.status)
        filled = Decimal(str(order.filled_qty or 0))
        status = _STATUS.get(raw) or (
            OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.NEW
        )
        if status is OrderStatus.PARTIALLY_FILLED and filled == 0:
            status = OrderStatus.NEW
        reason = f"{raw} at the broker" if raw in ("expired", "done_for_day") else ""
        side = getattr(order.side, "value", order.side)
        self._report(
            ReportKind.STATUS,
            client_id,
            venue_order_id=venue_id,
            status=status,
            filled_quantity=filled,
            asset=order.symbol,
            reason=reason,
            source=source,
            side=Side(side) if side in ("buy", "sell") else None,
            order_quantity=Decimal(str(order.qty)) if order.qty else None,
            journaled=self._journaled(client_id),
        )

    async def _order_and_fills(self, order: AlpacaOrder, source: str) -> None:
        """Report ``order`` and, when something filled, its fills (the activities)."""
        self._order(order, source)
        if Decimal(str(order.filled_qty or 0)) > 0:
            since = order.submitted_at - timedelta(seconds=1)
            for activity in await self._activities(since):
                if activity.get("order_id") == str(order.id):
                    await self._activity_fill(activity, source)

    def _fill(
        self,
        client_id: str,
        venue_id: str,
        symbol: str | None,
        cumulative: Any,
        price: Any,
        quantity: Any,
        ts: datetime | None,
        source: str,
    ) -> None:
        fields: dict[str, Any] = {"ts": ts} if ts is not None else {}
        self._report(
            ReportKind.FILL,
            client_id,
            venue_order_id=venue_id,
            trade_id=fill_key(venue_id, cumulative),
            price=Decimal(_decimal(price)),
            quantity=Decimal(_decimal(quantity)),
            fee=Decimal(0),  # commission-free
            fee_currency="USD",
            asset=symbol,
            source=source,
            **fields,
        )

    async def _on_update(self, update: TradeUpdate) -> None:
        try:
            order = update.order
            self._order(order, "stream")
            event = update.event.value if hasattr(update.event, "value") else str(update.event)
            fill = event in (TradeEvent.FILL.value, TradeEvent.PARTIAL_FILL.value)
            if fill and update.price is not None and update.qty is not None:
                self._fill(
                    order.client_order_id,
                    str(order.id),
                    order.symbol,
                    order.filled_qty,
                    update.price,
                    update.qty,
                    update.timestamp,
                    "stream",
                )
        except Exception as exc:  # one bad message never stops the stream
            self.stats.errors.append(f"trade_updates: {alpaca_reason(exc)}")

    async def _activities(self, since: datetime) -> list[dict[str, Any]]:
        """The broker's fill activities after ``since``, oldest first (every page)."""
        assert self.client is not None
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "after": since.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "direction": "asc",
            "page_size": PAGE_SIZE,
        }
        while True:
            page = await self._call(self.client.get, "/account/activities/FILL", dict(params))
            out.extend(page or [])
            if not page or len(page) < PAGE_SIZE:
                return out
            params["page_token"] = page[-1]["id"]

    async def _activity_fill(self, activity: dict[str, Any], source: str) -> None:
        assert self.client is not None
        venue_id = str(activity["order_id"])
        client_id = self._client_ids.get(venue_id)
        if client_id is None:  # a fill of an order not placed through us (this run)
            order = await self._call(self.client.get_order_by_id, venue_id)
            self._order(order, source)
            client_id = order.client_order_id
        stamp = activity.get("transaction_time")
        self._fill(
            client_id,
            venue_id,
            activity.get("symbol"),
            activity["cum_qty"],
            activity["price"],
            activity["qty"],
            datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None,
            source,
        )

    # --- reconciliation -----------------------------------------------------------------------
    async def reconcile(self, reason: str) -> None:
        """Report open orders, recent fills, positions and cash (see the module doc)."""
        assert self.client is not None
        clock = await self._call(self.client.get_clock)  # the broker's clock stamps its fills
        since = clock.timestamp - timedelta(seconds=self.config.lookback_seconds)
        request = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500)
        for order in await self._call(self.client.get_orders, request):
            self._order(order, "reconcile")
        for activity in await self._activities(since):
            await self._activity_fill(activity, "reconcile")
        positions = await self._call(self.client.get_all_positions)
        account = await self._call(self.client.get_account)
        totals = {symbol: Decimal(0) for symbol in self.symbols}
        for position in positions:
            quantity = Decimal(str(position.qty))
            side = getattr(position.side, "value", position.side)
            totals[position.symbol] = -abs(quantity) if side == "short" else quantity
        totals["USD"] = Decimal(str(account.cash or 0))
        self.stats.balances = {asset: str(total) for asset, total in totals.items() if total}
        self._report(ReportKind.BALANCES, "", balances=totals, source="reconcile")
        self.stats.reconciliations += 1
