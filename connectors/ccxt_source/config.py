"""Settings of the ccxt polling source (times in seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.feed.rest import RetryPolicy, ccxt_async
from schemas.common import Timeframe


@dataclass(frozen=True, slots=True)
class PollingConfig:
    """Which exchange and symbols to poll, and how often.

    Each cycle fetches, per symbol, the trades since the last one seen and the candles closed
    since the last one emitted; ccxt's rate limiter (``enableRateLimit``, ``exchange.rateLimit``)
    spaces the requests, and a cycle starts at most every ``poll_interval`` seconds.
    ``partitions`` > 1 splits the symbols over several partitions, each with its own client and
    rate limiter: only do that when the venue's limit allows the combined rate.

    >>> PollingConfig(exchange="kraken", symbols=("BTC/USD",), poll_interval=0)
    Traceback (most recent call last):
    ...
    ValueError: poll_interval must be > 0 seconds, got 0
    """

    exchange: str
    symbols: tuple[str, ...]
    timeframes: tuple[Timeframe, ...] = (Timeframe.M1,)
    trades: bool = True
    rest_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # a secret: never printed
    options: dict[str, Any] = field(default_factory=dict)
    source_name: str | None = None
    poll_interval: float = 2.0
    stale_after: float = 30.0
    heartbeat_every: float = 5.0
    partitions: int = 1
    emit_health: bool = True
    calendars: dict[str, str] = field(default_factory=dict)
    """A symbol's market calendar (absent: 24/7), for the open-session gap count."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if self.exchange not in ccxt_async().exchanges:
            raise ValueError(
                f"unknown ccxt exchange {self.exchange!r}; e.g. binance, kraken, coinbase, okx"
            )
        if not self.symbols:
            raise ValueError("symbols must name at least one symbol, e.g. ('BTC/USD',)")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"duplicate symbols in {list(self.symbols)}")
        object.__setattr__(self, "timeframes", tuple(Timeframe(t) for t in self.timeframes))
        if not (self.trades or self.timeframes):
            raise ValueError("nothing to poll: enable trades or give a timeframe")
        for name in ("poll_interval", "stale_after", "heartbeat_every"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {value}")
        if self.partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {self.partitions}")

    @property
    def source(self) -> str:
        """Name written on every record: ``ccxt:<exchange>`` unless set."""
        return self.source_name or f"ccxt:{self.exchange}"
