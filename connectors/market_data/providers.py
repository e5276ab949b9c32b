"""Alpaca and Polygon (Massive) REST clients behind one small interface: bars and trades.

Both wrap the vendor's official SDK — ``alpaca-py``'s ``StockHistoricalDataClient`` (follows
``next_page_token``) and ``massive``'s ``RESTClient`` (follows ``next_url``) — pointed at any
base URL (the loopback simulator in tests). Every HTTP request first waits its turn on a
:class:`Pacer` (``requests_per_minute``), so a long fetch stays under the vendor's rate limit;
a 429 that still happens is retried by the SDK (Polygon: ``Retry-After`` honoured by urllib3;
Alpaca: its fixed retry wait). Keys are handed to the SDK and never printed or logged here.

Bars are *raw* (unadjusted: Alpaca ``adjustment=raw``, Polygon ``adjusted=false``) so a
corporate-actions file can adjust them the same way whatever their source; their open time is
the vendor's. Trades come back as :data:`TradeFileRow`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from connectors.feed.cursor import CandleRow
from connectors.market_data.credentials import ProviderCredentials
from schemas.common import Timeframe

TradeFileRow = tuple[int, str, float, float, str | None]
"""``(ts_ns, trade id, price, amount, side or None)`` — a row of a fetched trades file."""

QuoteFileRow = tuple[int, float, float, float, float]
"""``(ts_ns, bid, ask, bid size, ask size)`` — a row of a fetched quotes file."""

_NS_PER_MS = 1_000_000
_POLYGON_SPANS = {"m": "minute", "h": "hour", "d": "day", "w": "week"}


class Pacer:
    """At most ``per_minute`` calls a minute, spaced evenly; thread-safe.

    >>> pacer = Pacer(per_minute=6_000_000)
    >>> pacer.wait(); pacer.wait(); pacer.calls
    2
    """

    def __init__(self, per_minute: float) -> None:
        if not per_minute > 0:
            raise ValueError(f"requests_per_minute must be positive, got {per_minute}")
        self.interval = 60.0 / per_minute
        self.calls = 0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            delay = max(0.0, self._next - now)
            self._next = max(now, self._next) + self.interval
            self.calls += 1
        if delay:
            time.sleep(delay)


class MarketDataProvider(Protocol):
    name: str
    pacer: Pacer
    trade_window_ms: int | None
    """Trades are asked for in windows this long (None: the whole range, page by page)."""

    def bars(
        self, symbol: str, timeframe: Timeframe, first_ms: int, last_ms: int
    ) -> list[CandleRow]:
        """Bars opening in ``[first_ms, last_ms]`` (both inclusive), sorted."""
        ...

    def trades(self, symbol: str, start_ns: int, end_ns: int) -> Iterator[list[TradeFileRow]]:
        """Trades in ``[start_ns, end_ns]``, one list per vendor page."""
        ...

    def quotes(self, symbol: str, start_ns: int, end_ns: int) -> Iterator[list[QuoteFileRow]]:
        """Best bid and ask updates in ``[start_ns, end_ns]``, one list per vendor page."""
        ...


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _rfc3339_ns(text: str) -> int:
    """``2024-01-02T14:30:00.123456789Z`` → epoch ns (keeps the nanoseconds datetime drops).

    >>> _rfc3339_ns("2024-01-02T14:30:00.000000123Z") % 1_000_000_000
    123
    """
    body = text.rstrip("Z").removesuffix("+00:00")
    whole, _, fraction = body.partition(".")
    seconds = int(datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp())
    return seconds * 1_000_000_000 + int((fraction + "000000000")[:9])


class AlpacaMarketData:
    """Alpaca's stock data API (``/v2/stocks/bars``, ``/v2/stocks/trades``) via ``alpaca-py``;
    crypto pairs (``BTC/USD``) through its crypto API (``/v1beta3/crypto/us/bars``, ``…/trades``).
    """

    name = "alpaca"
    trade_window_ms: int | None = 86_400_000  # the SDK returns a whole range at once: a day

    def __init__(
        self,
        credentials: ProviderCredentials,
        *,
        base_url: str | None = None,
        feed: str | None = None,
        requests_per_minute: float = 180.0,
    ) -> None:
        from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient

        pacer = self.pacer = Pacer(requests_per_minute)
        secret = credentials.secret.get_secret_value() if credentials.secret else None

        def paced(client_type: Any) -> Any:
            class PacedClient(client_type):  # type: ignore[misc,valid-type]
                def get(self, path: str, data: Any = None, **kwargs: Any) -> Any:
                    pacer.wait()
                    return super().get(path, data, **kwargs)

            return PacedClient(
                api_key=credentials.key.get_secret_value(),
                secret_key=secret,
                raw_data=True,
                url_override=base_url,
            )

        self.client = paced(StockHistoricalDataClient)
        self.crypto = paced(CryptoHistoricalDataClient)
        self.feed = feed

    def bars(
        self, symbol: str, timeframe: Timeframe, first_ms: int, last_ms: int
    ) -> list[CandleRow]:
        from alpaca.data.enums import Adjustment
        from alpaca.data.requests import CryptoBarsRequest, StockBarsRequest
        from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

        units = {"m": TimeFrameUnit.Minute, "h": TimeFrameUnit.Hour, "d": TimeFrameUnit.Day,
                 "w": TimeFrameUnit.Week}  # fmt: skip
        amount, unit = int(timeframe.value[:-1]), units[timeframe.value[-1]]
        window = {"symbol_or_symbols": symbol, "timeframe": TimeFrame(amount, unit),
                  "start": _utc(first_ms), "end": _utc(last_ms)}  # fmt: skip
        if "/" in symbol:  # a crypto pair: no adjustments, no stock feed
            raw = self.crypto.get_crypto_bars(CryptoBarsRequest(**window)).get(symbol, [])
        else:
            request = StockBarsRequest(**window, adjustment=Adjustment.RAW, feed=self.feed)
            raw = self.client.get_stock_bars(request).get(symbol, [])
        rows = [
            (_rfc3339_ns(b["t"]) // _NS_PER_MS, float(b["o"]), float(b["h"]), float(b["l"]),
             float(b["c"]), float(b["v"]), int(b.get("n") or 0))
            for b in raw
        ]  # fmt: skip
        return sorted(r for r in rows if first_ms <= r[0] <= last_ms)

    def _window(
        self, request_type: Any, symbol: str, start_ns: int, end_ns: int, crypto: bool = False
    ) -> Any:
        """A ticks request covering ``[start_ns, end_ns]`` (whole milliseconds around it)."""
        return request_type(
            symbol_or_symbols=symbol,
            start=_utc(start_ns // _NS_PER_MS),
            end=_utc(-(-end_ns // _NS_PER_MS)),
            **({} if crypto else {"feed": self.feed}),
        )

    def trades(self, symbol: str, start_ns: int, end_ns: int) -> Iterator[list[TradeFileRow]]:
        from alpaca.data.requests import CryptoTradesRequest, StockTradesRequest

        # alpaca-py follows next_page_token itself and returns the whole window at once
        if "/" in symbol:
            request = self._window(CryptoTradesRequest, symbol, start_ns, end_ns, crypto=True)
            raw = self.crypto.get_crypto_trades(request).get(symbol, [])
        else:
            request = self._window(StockTradesRequest, symbol, start_ns, end_ns)
            raw = self.client.get_stock_trades(request).get(symbol, [])
        rows = [(_rfc3339_ns(t["t"]), str(t["i"]), float(t["p"]), float(t["s"]), None) for t in raw]
        yield sorted(r for r in rows if start_ns <= r[0] <= end_ns)

    def quotes(self, symbol: str, start_ns: int, end_ns: int) -> Iterator[list[QuoteFileRow]]:
        from alpaca.data.requests import StockQuotesRequest

        request = self._window(StockQuotesRequest, symbol, start_ns, end_ns)
        raw = self.client.get_stock_quotes(request).get(symbol, [])
        rows = [
            (_rfc3339_ns(q["t"]), float(q["bp"]), float(q["ap"]), float(q["bs"]), float(q["as"]))
            for q in raw
        ]
        yield [r for r in rows if start_ns <= r[0] <= end_ns]


class PolygonMarketData:
    """Polygon's (Massive's) aggregates and trades (``/v2/aggs``, ``/v3/trades``), ``massive``."""

    name = "polygon"
    trade_window_ms: int | None = None  # the SDK yields page by page: one range

    def __init__(
        self,
        credentials: ProviderCredentials,
        *,
        base_url: str | None = None,
        requests_per_minute: float = 5.0,
        page_limit: int = 50_000,
    ) -> None:
        from massive import RESTClient

        pacer = self.pacer = Pacer(requests_per_minute)

        class PacedClient(RESTClient):  # type: ignore[misc]
            def _get(self, *args: Any, **kwargs: Any) -> Any:
                pacer.wait()
                return super()._get(*args, **kwargs)

        options: dict[str, Any] = {"api_key": credentials.key.get_secret_value()}
        if base_url is not None:
            options["base"] = base_url.rstrip("/")
        self.client = PacedClient(**options)
        self.page_limit = page_limit

    def bars(
        self, symbol: str, timeframe: Timeframe, first_ms: int, last_ms: int
    ) -> list[CandleRow]:
        multiplier, span = int(timeframe.value[:-1]), _POLYGON_SPANS[timeframe.value[-1]]
        aggs = self.client.list_aggs(
            symbol, multiplier, span, first_ms, last_ms,
            adjusted=False, sort="asc", limit=self.page_limit,
        )  # fmt: skip
        rows = [
            (int(a.timestamp), float(a.open), float(a.high), float(a.low), float(a.close),
             float(a.volume or 0.0), int(a.transactions or 0))
            for a in aggs
        ]  # fmt: skip
        return sorted(r for r in rows if first_ms <= r[0] <= last_ms)

    def trades(self, symbol: str, start_ns: int, end_ns: int) -> Iterator[list[TradeFileRow]]:
        trades = self.client.list_trades(
            symbol, timestamp_gte=start_ns, timestamp_lte=end_ns,
            sort="timestamp", order="asc", limit=self.page_limit,
        )  # fmt: skip
        yield from _pages(
            trades,
            lambda t: (int(t.sip_timestamp), str(t.id), float(t.price), float(t.size), None),
            self.page_limit,
        )

    def quotes(self, symbol: str, start_ns: int, end_ns: int) -> Iterator[list[QuoteFileRow]]:
        quotes = self.client.list_quotes(
            symbol, timestamp_gte=start_ns, timestamp_lte=end_ns,
            sort="timestamp", order="asc", limit=self.page_limit,
        )  # fmt: skip
        yield from _pages(quotes, _polygon_quote, self.page_limit)


def _polygon_quote(quote: Any) -> QuoteFileRow:
    bid_size, ask_size = float(quote.bid_size or 0.0), float(quote.ask_size or 0.0)
    return (int(quote.sip_timestamp), float(quote.bid_price), float(quote.ask_price), bid_size,
            ask_size)  # fmt: skip


def _pages(items: Iterator[Any], convert: Any, size: int) -> Iterator[list[Any]]:
    """``items`` (the SDK follows ``next_url`` while they are read) converted, in lists of
    ``size`` — one vendor page each when ``size`` is the page limit."""
    page: list[Any] = []
    for item in items:
        page.append(convert(item))
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def make_provider(
    name: str,
    credentials: ProviderCredentials,
    *,
    base_url: str | None = None,
    requests_per_minute: float | None = None,
    feed: str | None = None,
    page_limit: int | None = None,
) -> MarketDataProvider:
    """The client of ``name`` (``alpaca`` or ``polygon``); rates default to the free plans'."""
    if name == "alpaca":
        return AlpacaMarketData(
            credentials, base_url=base_url, feed=feed,
            requests_per_minute=requests_per_minute or 180.0,
        )  # fmt: skip
    if name == "polygon":
        return PolygonMarketData(
            credentials, base_url=base_url,
            requests_per_minute=requests_per_minute or 5.0, page_limit=page_limit or 50_000,
        )  # fmt: skip
    raise ValueError(f"provider {name!r} is not one of alpaca, polygon")
