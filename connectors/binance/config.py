"""Settings of the Binance WebSocket source (times in seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.binance.streams import MAX_STREAMS_PER_CONNECTION, Channels, market_id
from connectors.feed.backoff import BackoffPolicy
from connectors.feed.rest import RetryPolicy
from schemas.common import Timeframe

BINANCE_WS_URL = "wss://stream.binance.com:9443"


@dataclass(frozen=True, slots=True)
class BinanceConfig:
    """What to stream and how to keep the connections healthy.

    * ``trade_stream``: ``"trade"`` (every trade; REST backfill by id through
      ``historicalTrades``, which ccxt only calls with an ``api_key`` — without one the recent
      trades endpoint is used and a long outage may leave a reported, skipped gap),
      ``"aggTrade"`` (aggregated trades, backfilled by id without a key) or None.
    * ``max_connection_age``: rotate before Binance's 24-hour cut (tests use seconds).
    * ``reconnect_after_silence``: reconnect when no frame at all arrived for that long.
    * ``stale_after``: a symbol with no message for that long is reported ``stale``.
    * ``reorder_window``: how long a hole in trade ids / candle times may wait for late frames
      before it is fetched over REST.
    * ``rest_url``/``ws_url``: point the source elsewhere (the loopback simulator).
    * ``quote_candles``: symbols without trades (FX-style) whose 1-minute candles are built
      from their bookTicker quotes at ``quote_price`` (see :mod:`connectors.feed.quote_bars`).
    * ``calendars``: a symbol's market calendar (``24/5``, ``XNYS`` …; absent: ``24/7``), so
      candles missing while its market was open are counted as open-session gaps.

    >>> BinanceConfig(symbols=("BTC/USDT",), stale_after=0)
    Traceback (most recent call last):
    ...
    ValueError: stale_after must be > 0 seconds, got 0
    """

    symbols: tuple[str, ...]
    timeframes: tuple[Timeframe, ...] = (Timeframe.M1,)
    trade_stream: str | None = "trade"
    book_ticker: bool = False
    ws_url: str = BINANCE_WS_URL
    rest_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # a secret: never printed
    source_name: str = "binance"
    max_streams_per_connection: int = MAX_STREAMS_PER_CONNECTION
    streams_per_frame: int = 200
    subscribe_rate: float = 4.0
    max_connection_age: float = 23.5 * 3600
    reconnect_after_silence: float = 60.0
    stale_after: float = 10.0
    heartbeat_every: float = 5.0
    reorder_window: float = 1.0
    open_timeout: float = 10.0
    tick: float = 0.05
    emit_health: bool = True
    calendars: dict[str, str] = field(default_factory=dict)  # symbol → market calendar; 24/7
    quote_candles: tuple[str, ...] = ()  # symbols whose 1m candles are built from bookTicker
    quote_price: str = "mid"  # mid, bid or ask: the price of those candles
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("symbols must name at least one symbol, e.g. ('BTC/USDT',)")
        for symbol in self.symbols:
            market_id(symbol)
        object.__setattr__(self, "timeframes", tuple(Timeframe(t) for t in self.timeframes))
        self.channels  # validates the channel selection  # noqa: B018
        unknown = sorted(set(self.quote_candles) - set(self.symbols))
        if unknown:
            raise ValueError(f"quote_candles names symbols the feed does not stream: {unknown}")
        if self.quote_price not in ("mid", "bid", "ask"):
            raise ValueError(f"quote_price must be mid, bid or ask, got {self.quote_price!r}")
        for name in (
            "max_connection_age",
            "reconnect_after_silence",
            "stale_after",
            "heartbeat_every",
            "open_timeout",
            "tick",
        ):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {value}")
        if self.reorder_window < 0:
            raise ValueError(f"reorder_window must be >= 0 seconds, got {self.reorder_window}")
        if not 0 < self.subscribe_rate <= 5:
            raise ValueError(
                f"subscribe_rate must be within (0, 5] per second, got {self.subscribe_rate}"
            )

    @property
    def channels(self) -> Channels:
        return Channels(
            self.trade_stream, self.timeframes, self.book_ticker or bool(self.quote_candles)
        )

    @property
    def trades_method(self) -> str | None:
        """The ccxt ``fetchTradesMethod`` that pages trades by id, or None (recent only)."""
        if self.trade_stream == "aggTrade":
            return "publicGetAggTrades"
        if self.trade_stream == "trade" and self.api_key:
            return "publicGetHistoricalTrades"
        return None
