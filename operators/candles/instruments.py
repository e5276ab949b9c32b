"""What a symbol is: asset class, venue, calendar, tick and lot size, currency, plausible ranges.

The instruments are configuration (``instruments:`` in the run's YAML, or a file of their own
named by ``instruments.file``). A symbol without an entry gets the defaults of its asset class,
and the default asset class is crypto (24/7), so a file of an unknown pair runs as before.

>>> config = InstrumentsConfig(symbols={"NVDA": {"asset_class": "stock", "venue": "NASDAQ"}})
>>> nvda = config.instrument_for("NVDA")
>>> nvda.calendar, nvda.timezone, nvda.currency
('XNAS', 'America/New_York', 'USD')
>>> config.instrument_for("BTC/USDT").calendar
'24/7'
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from operators.candles.calendars import MarketCalendar, calendar_for
from schemas.common import UtcDatetime

AssetClass = Literal["crypto", "fx", "stock", "future", "index"]

_CLASS_DEFAULTS: dict[str, dict[str, str]] = {
    "crypto": {"calendar": "24/7", "timezone": "UTC"},
    "fx": {"calendar": "24/5", "timezone": "America/New_York"},
    "stock": {"calendar": "XNYS", "timezone": "America/New_York", "currency": "USD"},
    "future": {"calendar": "CMES", "timezone": "America/Chicago", "currency": "USD"},
    "index": {"calendar": "XNYS", "timezone": "America/New_York", "currency": "USD"},
}
_VENUE_CALENDARS = {"NASDAQ": "XNAS", "NYSE": "XNYS", "CME": "CMES", "EUREX": "XEUR"}


class Instrument(BaseModel):
    """One tradable symbol. Unset fields take the defaults of the asset class.

    >>> Instrument(symbol="EUR/USD", asset_class="fx").calendar
    '24/5'
    >>> Instrument(symbol="X", calendar="NOPE")
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Instrument
    ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(min_length=1, description="As the data names it: BTC/USDT, NVDA, ES")
    asset_class: AssetClass = Field(default="crypto", description="Decides the defaults below")
    venue: str = Field(default="", description="Exchange or data venue, e.g. BINANCE, NASDAQ")
    calendar: str = Field(
        default="",
        description=(
            "Open hours: 24/7, 24/5 (FX, Sunday 17:00 to Friday 17:00 New York) or an "
            "exchange-calendars code (XNYS, XNAS, CMES, XEUR …); default by asset class/venue"
        ),
    )
    timezone: str = Field(default="", description="The venue's local time zone (IANA name)")
    currency: str = Field(default="", description="Currency of prices, e.g. USD, USDT, EUR")
    tick_size: Decimal | None = Field(default=None, gt=0, description="Price increment")
    lot_size: Decimal | None = Field(default=None, gt=0, description="Quantity increment")
    min_timestamp: UtcDatetime | None = Field(
        default=None, description="Event times before this are implausible for this symbol"
    )
    max_timestamp: UtcDatetime | None = Field(
        default=None, description="Event times after this are implausible for this symbol"
    )
    max_price: float | None = Field(
        default=None, gt=0, description="Prices above this are implausible for this symbol"
    )
    price_source: Literal["trades", "quotes"] = Field(
        default="trades",
        description="Live candles from trades, or from best bid/ask quotes (FX-style: quorum "
        "live builds 1m candles of candles.quote_price from the bookTicker stream)",
    )

    @model_validator(mode="after")
    def _fill_defaults(self) -> Instrument:
        defaults = dict(_CLASS_DEFAULTS[self.asset_class])
        venue_calendar = _VENUE_CALENDARS.get(self.venue.upper())
        if venue_calendar is not None:
            defaults["calendar"] = venue_calendar
        for name, value in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)
        calendar_for(self.calendar)  # an unknown calendar fails when the config is read
        return self

    @property
    def market_calendar(self) -> MarketCalendar:
        return calendar_for(self.calendar)

    def bounds(self) -> dict[str, object]:
        """The validation bounds this instrument sets (``ValidationConfig`` field → value)."""
        named = {
            "min_timestamp": self.min_timestamp,
            "max_timestamp": self.max_timestamp,
            "max_price": self.max_price,
        }
        return {name: value for name, value in named.items() if value is not None}


class InstrumentsConfig(BaseModel):
    """The instruments of a run: inline ``symbols`` and/or a YAML ``file`` of the same shape.

    >>> InstrumentsConfig(symbols={"ES": {"asset_class": "fx", "calendar": "??"}})
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for InstrumentsConfig
    ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: Path | None = Field(
        default=None,
        description="YAML mapping symbol → instrument fields (merged under `symbols`)",
    )
    default_asset_class: AssetClass = Field(
        default="crypto", description="Asset class of a symbol without an entry"
    )
    symbols: dict[str, Instrument] = Field(
        default_factory=dict, description="Instruments by symbol (the entry's fields)"
    )

    @model_validator(mode="before")
    @classmethod
    def _read(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        merged: dict[str, dict[str, object]] = {}
        file = data.get("file")
        if file is not None:
            merged.update(_read_file(Path(file)))
        for symbol, fields in (data.get("symbols") or {}).items():
            merged[symbol] = dict(fields) if isinstance(fields, dict) else fields
        symbols = {
            symbol: ({"symbol": symbol, **fields} if isinstance(fields, dict) else fields)
            for symbol, fields in merged.items()
        }
        return {**data, "symbols": symbols}

    def instrument_for(self, symbol: str) -> Instrument:
        """The configured instrument, or the defaults of ``default_asset_class``."""
        found = self.symbols.get(symbol)
        if found is not None:
            return found
        return Instrument(symbol=symbol, asset_class=self.default_asset_class)


def _read_file(path: Path) -> dict[str, dict[str, object]]:
    if not path.exists():
        raise ValueError(f"instruments file {path} does not exist")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"instruments file {path} must map symbols to their fields")
    return data
