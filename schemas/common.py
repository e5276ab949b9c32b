"""Shared building blocks of the canonical schemas: time, enums and the frozen base model.

Units, once for every record:

* timestamps are timezone-aware UTC ``datetime`` at the edges and ``int`` nanoseconds since
  the Unix epoch (``*_ns``) on hot paths;
* prices are in quote currency per unit of base currency; sizes (``amount``, ``volume``,
  ``quantity``) are in base currency unless a field says otherwise;
* money that changes hands (orders, fills, fees, P&L, ledger) is ``decimal.Decimal``;
  market-data prices are ``float`` (IEEE double, exact for every price the venues publish);
* confidences and scores are plain floats in the ranges their fields state.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

NS_PER_SECOND = 1_000_000_000

DEFAULT_PORTFOLIO = "default"
"""Id of the one portfolio a run without a ``portfolios:`` section trades (``trading:``)."""
NS_PER_MINUTE = 60 * NS_PER_SECOND


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware (UTC); got a naive datetime")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
"""A timezone-aware timestamp, normalised to UTC. Naive datetimes are rejected."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ns_to_datetime(ns: int) -> datetime:
    """Nanoseconds since the epoch → aware UTC datetime (microsecond precision).

    >>> ns_to_datetime(1_600_000_000_000_000_000).isoformat()
    '2020-09-13T12:26:40+00:00'
    """
    return _EPOCH + timedelta(microseconds=int(ns) // 1000)  # floor, as for negative ns


def datetime_to_ns(value: datetime) -> int:
    """Aware datetime → nanoseconds since the epoch.

    >>> datetime_to_ns(ns_to_datetime(1_600_000_000_123_456_000))
    1600000000123456000
    """
    delta = (value if value.tzinfo is UTC else _as_utc(value)) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1000


class Frozen(BaseModel):
    """Base of every canonical record: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class Timeframe(StrEnum):
    """Candle timeframes Quorum builds.

    Intraday timeframes are aligned to UTC epoch boundaries; ``1d`` and ``1w`` follow the
    market's calendar (``operators/candles/calendars.py``: a crypto day starts at UTC midnight,
    an FX day at the 17:00 New York close, a stock day is its exchange session; weeks start on
    Monday).
    """

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"
    W1 = "1w"

    @property
    def intraday(self) -> bool:
        return self.seconds < 86_400

    @property
    def seconds(self) -> int:
        return _TIMEFRAME_SECONDS[self]  # a member hashes as its text: no ``.value`` lookup

    @property
    def ns(self) -> int:
        return _TIMEFRAME_NS[self]

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        """Parse ``"15m"`` etc., with an error naming the accepted values.

        >>> Timeframe.parse("4h").seconds
        14400
        """
        try:
            return cls(text.strip())
        except ValueError:
            allowed = ", ".join(t.value for t in cls)
            raise ValueError(f"unknown timeframe {text!r}; expected one of {allowed}") from None


_TIMEFRAME_SECONDS = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3600,
    "4h": 14400,
    "1d": 86_400,
    "1w": 604_800,
}
_TIMEFRAME_NS = {text: seconds * NS_PER_SECOND for text, seconds in _TIMEFRAME_SECONDS.items()}
ALL_TIMEFRAMES: tuple[Timeframe, ...] = tuple(Timeframe)
INTRADAY_TIMEFRAMES: tuple[Timeframe, ...] = tuple(t for t in Timeframe if t.intraday)
"""The default candle timeframes (1m … 4h); ``1d`` and ``1w`` are configured when wanted."""


class Side(StrEnum):
    """Aggressor side of a trade, or side of an order."""

    BUY = "buy"
    SELL = "sell"


class Direction(StrEnum):
    """Direction a signal argues for."""

    LONG = "long"
    SHORT = "short"
    FLAT = "flat"

    @property
    def sign(self) -> int:
        """+1 long, -1 short, 0 flat (on fusion's hot path: a plain dict lookup)."""
        return _DIRECTION_SIGN[self._value_]


_DIRECTION_SIGN = {"long": 1, "short": -1, "flat": 0}
