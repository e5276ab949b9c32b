"""Market-data records: trades, top of book and candles.

Field names and units are documented in :mod:`schemas.common`.
"""

from __future__ import annotations

import math
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from schemas.common import Frozen, Side, Timeframe, UtcDatetime


def _finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


class Trade(Frozen):
    """One executed trade as the venue reported it.

    >>> from datetime import datetime, UTC
    >>> Trade(symbol="BTC/USDT", ts=datetime(2021, 1, 8, tzinfo=UTC), price=39432.48,
    ...       amount=0.000263, trade_id="553287559").price
    39432.48
    """

    symbol: str = Field(min_length=1, description="Unified symbol, BASE/QUOTE")
    ts: UtcDatetime = Field(description="Execution time (UTC)")
    price: float = Field(gt=0, description="Quote currency per unit of base")
    amount: float = Field(gt=0, description="Size in base currency")
    trade_id: str | None = Field(default=None, description="Venue trade id, unique per symbol")
    side: Side | None = Field(default=None, description="Aggressor side when known")
    source: str = Field(default="replay", description="Feed that produced the record")

    @field_validator("price", "amount")
    @classmethod
    def _check_finite(cls, value: float, info) -> float:  # type: ignore[no-untyped-def]
        return _finite(info.field_name, value)


class BookTop(Frozen):
    """Best bid and ask (a quote)."""

    symbol: str = Field(min_length=1)
    ts: UtcDatetime
    bid: float = Field(gt=0)
    ask: float = Field(gt=0)
    bid_size: float = Field(ge=0)
    ask_size: float = Field(ge=0)
    source: str = "replay"

    @model_validator(mode="after")
    def _not_crossed(self) -> BookTop:
        if self.ask < self.bid:
            raise ValueError(f"crossed book: ask {self.ask} < bid {self.bid}")
        return self

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2

    @property
    def spread_bps(self) -> float:
        return (self.ask - self.bid) / self.mid * 10_000


Quote = BookTop


class Candle(Frozen):
    """OHLCV bar for one symbol and timeframe, stamped with its open time (UTC).

    Invariants: prices > 0, ``high >= max(open, close)``, ``low <= min(open, close)``,
    ``volume >= 0``. A minute without trades is a zero-volume candle whose four prices equal the
    previous close (``trades == 0``).

    >>> from datetime import datetime, UTC
    >>> Candle(symbol="X/Y", timeframe="1m", ts=datetime(2022, 1, 1, tzinfo=UTC),
    ...        open=1, high=0.5, low=0.4, close=0.45, volume=1)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Candle
      Value error, high 0.5 < max(open, close) 1.0 [type=value_error, ...]
    ...
    """

    symbol: str = Field(min_length=1)
    timeframe: Timeframe
    ts: UtcDatetime = Field(description="Open time of the bar (UTC), aligned to the timeframe")
    open: float = Field(gt=0)
    high: float = Field(gt=0)
    low: float = Field(gt=0)
    close: float = Field(gt=0)
    volume: float = Field(ge=0, description="Traded size in the unit of the source")
    trades: int = Field(default=0, ge=0, description="Number of trades in the bar, 0 if unknown")
    closed: bool = Field(default=True, description="False while the bar is still forming")

    @field_validator("open", "high", "low", "close", "volume")
    @classmethod
    def _check_finite(cls, value: float, info) -> float:  # type: ignore[no-untyped-def]
        return _finite(info.field_name, value)

    @model_validator(mode="after")
    def _check_ohlc(self) -> Candle:
        top = max(self.open, self.close)
        bottom = min(self.open, self.close)
        if self.high < top:
            raise ValueError(f"high {self.high} < max(open, close) {top}")
        if self.low > bottom:
            raise ValueError(f"low {self.low} > min(open, close) {bottom}")
        return self


class FeatureSet(Frozen):
    """Indicator values computed on one closed candle (NaN during warm-up)."""

    symbol: str
    timeframe: Timeframe
    ts: UtcDatetime = Field(description="Open time of the candle the features describe")
    close: float
    values: dict[str, float] = Field(description="Indicator name → value, e.g. rsi_14")


class FeedStatus(StrEnum):
    """State of one symbol's feed."""

    LIVE = "live"  # connected, caught up, a message within the staleness limit
    STALE = "stale"  # connected but nothing for longer than the limit (or nothing yet)
    CATCHING_UP = "catching_up"  # a REST backfill is in flight: live data is held back
    DISCONNECTED = "disconnected"  # no connection (reconnecting with backoff)
    CLOSED = "closed"  # connected; the symbol's market is closed (its calendar): silence is fine


class FeedCounters(Frozen):
    """Running totals of one feed (a connection or a polling partition) since it started."""

    messages: int = Field(default=0, ge=0, description="Frames or REST rows received")
    reconnects: int = Field(default=0, ge=0, description="Connections re-opened after a failure")
    rotations: int = Field(default=0, ge=0, description="Planned reconnects (age, serverShutdown)")
    gaps_filled: int = Field(default=0, ge=0, description="Holes filled from REST")
    gaps_skipped: int = Field(default=0, ge=0, description="Holes REST had no data for")
    rows_backfilled: int = Field(default=0, ge=0, description="Rows released from REST")
    duplicates_dropped: int = Field(default=0, ge=0)
    dead_lettered: int = Field(default=0, ge=0, description="Malformed frames or rows")
    rest_retries: int = Field(default=0, ge=0, description="REST calls retried (429, 5xx, network)")
    open_gaps: int = Field(
        default=0, ge=0, description="Gaps between released candles while the market was open"
    )
    open_missing_bars: int = Field(
        default=0, ge=0, description="Candles missing in those gaps (market calendar open time)"
    )


class FeedHealth(Frozen):
    """Heartbeat or status change of one symbol's feed.

    >>> from datetime import datetime, UTC
    >>> h = FeedHealth(source="binance", symbol="BTC/USDT", status="stale",
    ...                ts=datetime(2024, 1, 1, tzinfo=UTC), silence_s=12.5, event="status")
    >>> h.accepting_entries
    False
    """

    source: str = Field(min_length=1, description="Feed name, e.g. binance or ccxt:kraken")
    symbol: str = Field(min_length=1)
    status: FeedStatus
    ts: UtcDatetime = Field(description="When the report was made (wall clock, UTC)")
    silence_s: float | None = Field(
        default=None, ge=0, description="Seconds since the symbol's last message; None = never"
    )
    event: str = Field(description="heartbeat | status | a short note such as 'gap skipped 5..9'")
    counters: FeedCounters = Field(default_factory=FeedCounters)

    @property
    def accepting_entries(self) -> bool:
        """Whether new positions may be opened on this feed's data."""
        return self.status is FeedStatus.LIVE
