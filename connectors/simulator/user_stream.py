"""User-data streams: execution reports and balance updates pushed to the account's clients.

Two ways in, both Binance's:

* the WebSocket API at ``/ws-api/v3``: ``userDataStream.subscribe.signature`` with signed
  params (what ccxt's ``watch_orders``/``watch_my_trades`` use for spot) answers
  ``{"id", "status": 200, "result": {"subscriptionId": N}}``; events then arrive as
  ``{"subscriptionId": N, "event": {...}}``;
* a listen key from ``POST /api/v3/userDataStream`` and the raw stream ``/ws/<listenKey>``.

Runs inside the simulator's event loop. :meth:`UserStreams.drop_all` cuts every user stream
at the TCP level (the fault a reconnect and reconciliation must survive).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from connectors.simulator import order_payloads as out
from connectors.simulator.matching import Execution, OrderError
from connectors.simulator.trading import TradingApi

WS_API_PATH = "/ws-api/v3"


@dataclass(slots=True, eq=False)
class _Subscriber:
    ws: ServerConnection
    wrap: bool
    accounts: dict[int, str] = field(default_factory=dict)  # subscription id -> account
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


class UserStreams:
    """The user-data side of the venue (one per simulator)."""

    def __init__(self, trading: TradingApi) -> None:
        self.trading = trading
        self._subscribers: set[_Subscriber] = set()
        self._subscription_ids = 0
        self.connections_opened = 0
        self.events_sent = 0
        trading.engine.listeners.append(self._on_execution)

    def handles(self, path: str) -> bool:
        if path.rstrip("/") == WS_API_PATH:
            return True
        return path.startswith("/ws/") and path[len("/ws/") :] in self.trading.listen_keys

    @property
    def connections(self) -> int:
        return len(self._subscribers)

    def drop_all(self) -> int:
        """Abort every user-data connection without a close frame."""
        subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.ws.transport.abort()
        return len(subscribers)

    # --- events -------------------------------------------------------------------------------
    def _on_execution(self, execution: Execution) -> None:
        order = execution.order
        report = out.execution_report(execution)
        events = [report]
        if execution.fill is not None or execution.execution_type in ("NEW", "CANCELED"):
            balances = self.trading.engine.free_and_locked(order.account)
            events.append(
                out.account_position(balances, (order.base, order.quote), execution.time_ms)
            )
        for subscriber in list(self._subscribers):
            for sub_id, account in subscriber.accounts.items():
                if account != order.account:
                    continue
                for event in events:
                    body: Any = (
                        {"subscriptionId": sub_id, "event": event} if subscriber.wrap else event
                    )
                    subscriber.queue.put_nowait(orjson.dumps(body).decode())

    # --- connections --------------------------------------------------------------------------
    async def handle(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else "/"
        subscriber = _Subscriber(ws, wrap=path.rstrip("/") == WS_API_PATH)
        if not subscriber.wrap:
            account = self.trading.listen_keys.get(path[len("/ws/") :])
            if account is None:
                await ws.close(1008, "unknown listenKey")
                return
            subscriber.accounts[self._next_id()] = account
        self._subscribers.add(subscriber)
        self.connections_opened += 1
        sender = asyncio.create_task(self._send_loop(subscriber))
        try:
            async for message in ws:
                if subscriber.wrap:
                    subscriber.queue.put_nowait(
                        orjson.dumps(self._request(subscriber, message)).decode()
                    )
        except ConnectionClosed:
            pass
        finally:
            self._subscribers.discard(subscriber)
            subscriber.queue.put_nowait(None)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    def _next_id(self) -> int:
        self._subscription_ids += 1
        return self._subscription_ids - 1

    def _request(self, subscriber: _Subscriber, message: str | bytes) -> dict[str, Any]:
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            return _error(None, -1100, "Malformed request.")
        request_id = request.get("id") if isinstance(request, dict) else None
        method = request.get("method") if isinstance(request, dict) else None
        params = request.get("params") or {} if isinstance(request, dict) else {}
        if method == "ping":
            return {"id": request_id, "status": 200, "result": {}}
        if method != "userDataStream.subscribe.signature" or not isinstance(params, dict):
            return _error(request_id, -1100, f"Unknown method {method!r}.")
        try:
            account = self.trading.keys.verify_params(
                {k: str(v) for k, v in params.items()}, now_ms=self.trading.wall_ms()
            )
        except OrderError as exc:
            return _error(request_id, exc.code, exc.msg, exc.status)
        sub_id = self._next_id()
        subscriber.accounts[sub_id] = account
        return {"id": request_id, "status": 200, "result": {"subscriptionId": sub_id}}

    async def _send_loop(self, subscriber: _Subscriber) -> None:
        while (frame := await subscriber.queue.get()) is not None:
            try:
                await subscriber.ws.send(frame)
            except ConnectionClosed:
                return
            self.events_sent += 1


def _error(request_id: Any, code: int, msg: str, status: int = 400) -> dict[str, Any]:
    return {"id": request_id, "status": status, "error": {"code": code, "msg": msg}}
