"""The simulator's REST side: the Binance spot endpoints ccxt calls for market data.

``/api/v3/ping``, ``/time``, ``/exchangeInfo``, ``/klines``, ``/trades``, ``/historicalTrades``
and ``/aggTrades`` with Binance's parameters, limits and error bodies. Answers never reveal data
later than the simulator clock. Scripted failures (:class:`~connectors.simulator.faults.Faults`)
answer 429/418/5xx with a ``Retry-After`` header first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from connectors.simulator import payloads
from connectors.simulator.catalogue import Market
from connectors.simulator.clock import SimClock
from connectors.simulator.faults import Faults
from connectors.simulator.payloads import KLINE_INTERVALS_MS


class BinanceError(Exception):
    """An error answered with Binance's ``{"code": ..., "msg": ...}`` body."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


@dataclass(slots=True)
class RestStats:
    """Every request seen: ``(path, query string, status)``."""

    requests: list[tuple[str, str, int]] = field(default_factory=list)

    def count(self, path: str, status: int | None = None) -> int:
        return sum(1 for p, _, s in self.requests if p == path and status in (None, s))


Handler = Callable[[web.Request], Awaitable[object]]


class RestApi:
    """aiohttp application serving the recorded markets."""

    def __init__(self, markets: dict[str, Market], clock: SimClock, faults: Faults) -> None:
        self.markets = markets
        self.clock = clock
        self.faults = faults
        self.stats = RestStats()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        routes: dict[str, Handler] = {
            "/api/v3/ping": self.ping,
            "/api/v3/time": self.time,
            "/api/v3/exchangeInfo": self.exchange_info,
            "/api/v3/klines": self.klines,
            "/api/v3/trades": self.trades,
            "/api/v3/historicalTrades": self.historical_trades,
            "/api/v3/aggTrades": self.agg_trades,
        }
        for path, handler in routes.items():
            app.router.add_get(path, self._json(handler))
        return app

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        failure = self.faults.take_rest_failure(request.path)
        if failure is not None:
            headers = {}
            if failure.retry_after is not None:
                headers["Retry-After"] = str(failure.retry_after)
            if failure.status in (418, 429):
                body = {
                    "code": -1003,
                    "msg": "Too many requests; current limit of IP is 6000 "
                    "requests per minute. Please use the websocket for live updates.",
                }
            else:
                body = {"code": -1001, "msg": "Internal error; unable to process your request."}
            response: web.StreamResponse = web.json_response(
                body, status=failure.status, headers=headers
            )
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = exc
        self.stats.requests.append((request.path, request.query_string, response.status))
        if isinstance(response, web.HTTPException):
            raise response
        return response

    def _json(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def wrapped(request: web.Request) -> web.Response:
            try:
                return web.json_response(await handler(request))
            except BinanceError as exc:
                return web.json_response({"code": exc.code, "msg": exc.msg}, status=exc.status)

        return wrapped

    # --- parameters ---------------------------------------------------------------------------
    def _market(self, request: web.Request) -> Market:
        symbol = request.query.get("symbol")
        if not symbol:
            raise BinanceError(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        market = self.markets.get(symbol)
        if market is None:
            raise BinanceError(-1121, "Invalid symbol.")
        return market

    @staticmethod
    def _int(request: web.Request, name: str, default: int | None = None) -> int | None:
        text = request.query.get(name)
        if text is None or text == "":
            return default
        try:
            return int(text)
        except ValueError:
            raise BinanceError(
                -1100,
                f"Illegal characters found in parameter '{name}'; legal "
                "range is '^[0-9]{1,20}$'.",
            ) from None

    def _limit(self, request: web.Request, default: int = 500, maximum: int = 1000) -> int:
        limit = self._int(request, "limit", default)
        if limit is None or not 1 <= limit <= maximum:
            raise BinanceError(
                -1100,
                f"Illegal characters found in parameter 'limit'; legal range is '1-{maximum}'.",
            )
        return limit

    # --- endpoints ----------------------------------------------------------------------------
    async def ping(self, request: web.Request) -> dict:
        return {}

    async def time(self, request: web.Request) -> dict:
        return {"serverTime": self.clock.now_ms()}

    async def exchange_info(self, request: web.Request) -> dict:
        markets = list(self.markets.values())
        if "symbol" in request.query:
            markets = [self._market(request)]
        return payloads.exchange_info(markets, self.clock.now_ms())

    async def klines(self, request: web.Request) -> list:
        market = self._market(request)
        interval = request.query.get("interval", "")
        if interval not in KLINE_INTERVALS_MS:
            raise BinanceError(-1120, "Invalid interval.")
        tf = KLINE_INTERVALS_MS[interval]
        limit = self._limit(request)
        now = self.clock.now_ms()
        start = self._int(request, "startTime")
        end = self._int(request, "endTime")
        last_open = now - now % tf
        if end is not None:
            last_open = min(last_open, end - end % tf)
        if start is not None:
            first = -(-start // tf) * tf  # klines whose open time is >= startTime
            first = max(first, _data_start(market) - _data_start(market) % tf)
            if first > last_open:
                return []
            klines = market.klines(tf, first, min(limit, (last_open - first) // tf + 1), now)
            rows = range(min(limit, len(klines)))
        else:
            first = last_open - (limit - 1) * tf
            klines = market.klines(tf, first, limit, now)
            rows = range(max(0, len(klines) - limit), len(klines))
        return [payloads.rest_kline_row(interval, klines, i) for i in rows]

    def _trade_rows(self, market: Market, g0: int, g1: int) -> list[dict]:
        tape = market.trades
        assert tape is not None
        ts, rows = tape.trades.rows(g0, g1)
        ids = tape.ids(g0, g1)
        price = tape.trades.column("price", rows)
        qty = tape.trades.column("qty", rows)
        maker = tape.trades.column("buyer_maker", rows)
        return [
            payloads.rest_trade(
                int(ids[i]), float(price[i]), float(qty[i]), int(ts[i]), bool(maker[i])
            )
            for i in range(len(ts))
        ]

    def _published(self, market: Market) -> int:
        return market.trades.trades.count_at_or_before(self.clock.now_ms()) if market.trades else 0

    async def trades(self, request: web.Request) -> list:
        market = self._market(request)
        limit = self._limit(request)
        g1 = self._published(market)
        return self._trade_rows(market, max(0, g1 - limit), g1)

    async def historical_trades(self, request: web.Request) -> list:
        market = self._market(request)
        limit = self._limit(request)
        g1 = self._published(market)
        from_id = self._int(request, "fromId")
        if from_id is None or market.trades is None:
            return self._trade_rows(market, max(0, g1 - limit), g1)
        g0 = market.trades.row_of_id(from_id)
        return self._trade_rows(market, g0, min(g1, g0 + limit))

    async def agg_trades(self, request: web.Request) -> list:
        market = self._market(request)
        limit = self._limit(request)
        if market.trades is None:
            return []
        aggregates = market.trades.aggregates
        now = self.clock.now_ms()
        a_end = aggregates.count_at_or_before(now)
        from_id = self._int(request, "fromId")
        start, end = self._int(request, "startTime"), self._int(request, "endTime")
        if from_id is not None and (start is not None or end is not None):
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        if start is not None and end is not None and end - start > 3_600_000:
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        if from_id is not None:
            a0 = max(0, from_id - 1)
            a1 = min(a_end, a0 + limit)
        elif start is not None or end is not None:
            a0 = aggregates.count_before(start) if start is not None else 0
            a1 = min(a_end, aggregates.count_at_or_before(end) if end is not None else a_end)
            a1 = min(a1, a0 + limit)
        else:
            a0, a1 = max(0, a_end - limit), a_end
        if a1 <= a0:
            return []
        ts, rows = aggregates.rows(a0, a1)
        first, last = market.trades.aggregate_bounds(a0, a1)
        price = aggregates.column("price", rows)
        qty = aggregates.column("qty", rows)
        maker = aggregates.column("buyer_maker", rows)
        return [
            payloads.rest_agg_trade(
                a0 + i + 1,
                float(price[i]),
                float(qty[i]),
                int(first[i]),
                int(last[i]),
                int(ts[i]),
                bool(maker[i]),
            )
            for i in range(len(ts))
        ]


def _data_start(market: Market) -> int:
    """Time of the market's first recorded event."""
    if market.trades is not None:
        return market.trades.trades.first_ts
    return market.bars.first_ts if market.bars is not None else 0
