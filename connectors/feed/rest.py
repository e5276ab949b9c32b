"""REST market-data history through ccxt (async), with rate-limit-aware retries.

* :func:`make_exchange` builds any ccxt exchange by name with its rate limiter on and, for
  tests and demos, every REST endpoint pointed at another base URL (the loopback simulator).
* :class:`RestCaller` retries what ccxt classes as transient (``OperationFailed``: 429/418, 5xx,
  timeouts, connection errors): on 429/418 it waits what the server's ``Retry-After`` asks
  (bounded), otherwise exponential backoff with jitter.
* :class:`RestHistory` fetches trades (by id or by time) and *closed* candles, paginating, and
  converts them to the rows the gates and the outbox use. A malformed row becomes a
  :class:`~schemas.records.DeadLetter`, never an exception.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from connectors.feed.backoff import Backoff, BackoffPolicy
from connectors.feed.cursor import CandleRow, TradeRow, time_then_id
from connectors.feed.health import FeedStats
from schemas.common import Timeframe
from schemas.records import DeadLetter

BINANCE_SPOT_OPTIONS: dict[str, Any] = {
    "fetchMarkets": {"types": ["spot"]},  # no fapi/dapi/eapi calls in load_markets
    "fetchCurrencies": False,  # no sapi (authenticated) call
    "fetchMargins": False,
}


def ccxt_async() -> Any:
    """The ``ccxt.async_support`` module (imported lazily: it is slow to import)."""
    return importlib.import_module("ccxt.async_support")


def make_exchange(
    name: str,
    *,
    rest_url: str | None = None,
    api_key: str | None = None,
    timeout_ms: int = 10_000,
    options: dict[str, Any] | None = None,
) -> Any:
    """An async ccxt exchange with its rate limiter on; ``rest_url`` redirects every endpoint.

    Must be called from within the event loop that will use it (ccxt binds its HTTP session to
    the running loop).
    """
    module = ccxt_async()
    if name not in module.exchanges:
        raise ValueError(f"unknown ccxt exchange {name!r}; e.g. binance, kraken, coinbase, okx")
    merged = dict(BINANCE_SPOT_OPTIONS) if name == "binance" else {}
    merged.update(options or {})
    config: dict[str, Any] = {"enableRateLimit": True, "timeout": timeout_ms, "options": merged}
    if api_key:
        config["apiKey"] = api_key
    exchange = getattr(module, name)(config)
    if rest_url:
        point_at(exchange, rest_url)
    return exchange


def point_at(exchange: Any, base_url: str) -> None:
    """Rewrite the scheme and host of every URL in ``exchange.urls['api']`` to ``base_url``.

    >>> class Fake: urls = {"api": {"public": "https://api.binance.com/api/v3",
    ...                             "nested": {"x": "https://fapi.binance.com/fapi/v1"}}}
    >>> ex = Fake(); point_at(ex, "http://127.0.0.1:8080/"); ex.urls["api"]
    {'public': 'http://127.0.0.1:8080/api/v3', 'nested': {'x': 'http://127.0.0.1:8080/fapi/v1'}}
    """
    base = base_url.rstrip("/")

    def rewrite(value: Any) -> Any:
        if isinstance(value, str) and "://" in value:
            return base + urlsplit(value).path
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        return value

    exchange.urls["api"] = rewrite(exchange.urls["api"])


def retry_after_seconds(
    headers: dict[str, str] | None, now: datetime | None = None
) -> float | None:
    """The ``Retry-After`` header in seconds (delta or HTTP date), if present and valid.

    >>> retry_after_seconds({"Retry-After": "3"}), retry_after_seconds({"x": "1"})
    (3.0, None)
    """
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How :class:`RestCaller` retries: ``attempts`` in total, waits capped at ``max_wait``."""

    attempts: int = 6
    backoff: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(0.5, 2.0, 30.0, 0.5))
    max_wait: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")


class RestCaller:
    """Calls ccxt methods, retrying rate limits (429/418) and transient network/5xx errors.

    ``sleep`` and ``rng`` are injectable so tests observe the waits without waiting.
    """

    def __init__(
        self,
        exchange: Any,
        policy: RetryPolicy | None = None,
        stats: FeedStats | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.exchange = exchange
        self.policy = policy or RetryPolicy()
        self.stats = stats or FeedStats()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.waits: list[float] = []  # every wait taken, for observability

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        ccxt = ccxt_async()
        backoff = Backoff(self.policy.backoff, self._rng)
        for attempt in range(1, self.policy.attempts + 1):
            try:
                return await getattr(self.exchange, method)(*args, **kwargs)
            except ccxt.OperationFailed as exc:  # 429/418, 5xx, timeouts, connection errors
                if attempt == self.policy.attempts:
                    raise
                wait = None
                if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
                    wait = retry_after_seconds(
                        getattr(self.exchange, "last_response_headers", None)
                    )
                if wait is None:
                    wait = backoff.next_delay()
                wait = min(wait, self.policy.max_wait)
                self.stats.rest_retries += 1
                self.waits.append(wait)
                await self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


def trade_key(trade_id: object) -> tuple[int, int]:
    """``(key, numeric id or -1)`` of a venue trade id: numeric ids are their own key, other ids
    get a stable 63-bit hash.

    >>> trade_key("12"), trade_key(None)[1], trade_key("a-1") == trade_key("a-1")
    ((12, 12), -1, True)
    """
    text = "" if trade_id is None else str(trade_id)
    if text.isdigit():
        value = int(text)
        return value, value
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF, -1


_SIDES = {"buy": 1, "sell": -1}


def trade_row(trade: dict[str, Any]) -> TradeRow:
    """A ccxt unified trade as a :data:`TradeRow`; raises ValueError naming a bad field."""
    ts = trade.get("timestamp")
    price = trade.get("price")
    amount = trade.get("amount")
    for name, value in (("timestamp", ts), ("price", price), ("amount", amount)):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"trade field {name!r} is {value!r}, expected a number")
    key, numeric = trade_key(trade.get("id"))
    return (key, int(ts), float(price), float(amount), numeric, _SIDES.get(trade.get("side"), 0))


def candle_row(ohlcv: list[Any]) -> CandleRow:
    """A ccxt OHLCV row ``[ts, o, h, l, c, v]`` as a :data:`CandleRow` (trade count unknown: 0)."""
    if not isinstance(ohlcv, list | tuple) or len(ohlcv) < 6:
        raise ValueError(f"OHLCV row must have 6 fields, got {ohlcv!r}")
    names = ("timestamp", "open", "high", "low", "close", "volume")
    for name, value in zip(names, ohlcv[:6], strict=True):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"OHLCV field {name!r} is {value!r}, expected a number")
    ts, o, h, low, c, v = ohlcv[:6]
    return (int(ts), float(o), float(h), float(low), float(c), float(v), 0)


class RestHistory:
    """Trades and closed candles of one exchange, paginated, as rows.

    ``on_reject`` receives a :class:`DeadLetter` for each malformed row (it is skipped).
    """

    def __init__(
        self,
        caller: RestCaller,
        source: str,
        on_reject: Callable[[DeadLetter], None],
        *,
        page_size: int = 1000,
        max_rows: int = 100_000,
    ) -> None:
        self.caller = caller
        self.source = source
        self.on_reject = on_reject
        self.rows_rejected = 0
        """Malformed rows met so far: their number is their occurrence."""
        self.page_size = page_size
        self.max_rows = max_rows

    async def load_markets(self) -> dict[str, Any]:
        return await self.caller.call("load_markets")

    async def server_time_ms(self) -> int | None:
        """The exchange's clock, when it publishes one."""
        if not self.caller.exchange.has.get("fetchTime"):
            return None
        return int(await self.caller.call("fetch_time"))

    def _rows(self, symbol: str, raw: list[Any], convert: Callable[[Any], Any]) -> list[Any]:
        rows = []
        for item in raw:
            try:
                rows.append(convert(item))
            except ValueError as exc:
                self.rows_rejected += 1
                self.on_reject(
                    DeadLetter(
                        source=self.source,
                        symbol=symbol,
                        reason="malformed_rest_row",
                        detail=str(exc),
                        raw=_dump(item.get("info", item) if isinstance(item, dict) else item),
                        occurrence=f"rest row #{self.rows_rejected}",
                    )
                )
        return rows

    async def trades_from_id(
        self, symbol: str, first_id: int, last_id: int | None, method: str
    ) -> list[TradeRow]:
        """Trades with ids ``first_id..last_id`` (or up to now), via an id-paginated endpoint
        such as Binance's ``publicGetHistoricalTrades`` or ``publicGetAggTrades``."""
        out: list[TradeRow] = []
        next_id = first_id
        while len(out) < self.max_rows:
            params = {"fromId": next_id, "fetchTradesMethod": method}
            raw = await self.caller.call("fetch_trades", symbol, None, self.page_size, params)
            rows = [r for r in self._rows(symbol, raw, trade_row) if r[0] >= next_id]
            rows.sort(key=lambda r: r[0])
            if last_id is not None:
                rows = [r for r in rows if r[0] <= last_id]
            out.extend(rows)
            if not rows or len(raw) < self.page_size:
                break
            next_id = rows[-1][0] + 1
            if last_id is not None and next_id > last_id:
                break
        return out

    async def recent_trades(self, symbol: str, method: str | None = None) -> list[TradeRow]:
        """The latest trades the exchange serves without a position (one page)."""
        params = {"fetchTradesMethod": method} if method else {}
        raw = await self.caller.call("fetch_trades", symbol, None, self.page_size, params)
        return sorted(self._rows(symbol, raw, trade_row), key=time_then_id)

    async def trades_since(self, symbol: str, since_ms: int | None) -> list[TradeRow]:
        """Trades at or after ``since_ms`` (time-paginated; overlap is the caller's to remove)."""
        out: list[TradeRow] = []
        since = since_ms
        while len(out) < self.max_rows:
            raw = await self.caller.call("fetch_trades", symbol, since, self.page_size)
            rows = sorted(self._rows(symbol, raw, trade_row), key=time_then_id)
            out.extend(rows)
            if since is None or len(raw) < self.page_size or not rows or rows[-1][1] <= since:
                break
            since = rows[-1][1]
        return out

    async def closed_candles(
        self,
        symbol: str,
        timeframe: Timeframe,
        first_open_ms: int | None,
        last_open_ms: int | None,
        server_now_ms: int,
    ) -> list[CandleRow]:
        """Closed candles with open time in ``[first_open_ms, last_open_ms]`` (either end may be
        open); a candle is closed once ``open + timeframe <= server_now_ms``."""
        tf_ms = timeframe.seconds * 1000
        out: list[CandleRow] = []
        since = first_open_ms
        while len(out) < self.max_rows:
            raw = await self.caller.call(
                "fetch_ohlcv", symbol, timeframe.value, since, self.page_size
            )
            rows = sorted(self._rows(symbol, raw, candle_row))
            if since is not None:
                rows = [r for r in rows if r[0] >= since]
            closed = [r for r in rows if r[0] + tf_ms <= server_now_ms]
            if last_open_ms is not None:
                closed = [r for r in closed if r[0] <= last_open_ms]
            out.extend(closed)
            if since is None or len(raw) < self.page_size or not rows:
                break
            since = rows[-1][0] + tf_ms
            if (last_open_ms is not None and since > last_open_ms) or since + tf_ms > server_now_ms:
                break
        return out


def _dump(value: Any) -> str:
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        return repr(value)
