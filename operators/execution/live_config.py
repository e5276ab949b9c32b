"""Live execution settings: which venue, the notional caps, dry run, reconciliation policy.

>>> LiveConfig(max_order_notional=0)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for LiveConfig
max_order_notional
  Input should be greater than 0 ...
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class VenueSpec(BaseModel):
    """One venue smart order routing may use, with what using it costs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="Venue name (its gateway)")
    fee_bps: Decimal = Field(default=Decimal(10), ge=0, description="Taker fee, basis points")
    latency_ms: float = Field(default=50.0, ge=0, description="Expected order round trip")
    simulated_spread_bps: Decimal = Field(
        default=Decimal(2),
        ge=0,
        description="quorum live --simulator: this venue's spread around the last price",
    )
    simulated_depth: Decimal = Field(
        default=Decimal(5),
        gt=0,
        description="quorum live --simulator: this venue's top-of-book size (base units)",
    )


class LiveConfig(BaseModel):
    """How ``trading.mode: live`` sends orders."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    venue: str = Field(
        default="binance", min_length=1, description="Venue the orders go to (its gateway name)"
    )
    dry_run: bool = Field(
        default=False,
        description=(
            "Record every command that would be sent (audited) and fill them on paper instead"
        ),
    )
    max_order_notional: Decimal = Field(
        default=Decimal(25_000),
        gt=0,
        description="An entry above this notional (quote currency) is refused before sending",
    )
    max_daily_notional: Decimal = Field(
        default=Decimal(250_000),
        gt=0,
        description="Entries stop once the UTC day's sent notional would exceed this",
    )
    cancel_unknown_orders: bool = Field(
        default=False,
        description="Reconciliation cancels open venue orders the ledger does not know",
    )
    venues: tuple[VenueSpec, ...] = Field(
        default=(),
        description=(
            "Two or more venues quoting the same asset: each slice is routed by expected "
            "all-in price (quote, fee, depth, latency) and split when one venue's depth is "
            "short; empty = everything to `venue`"
        ),
    )
    divergence_bps: float = Field(
        default=50.0,
        gt=0,
        description=(
            "Two venues' mid prices further apart than this block new entries in the asset "
            "until they agree again (within 80 % of it); venues' quotes at most "
            "quote_max_age_seconds apart are compared"
        ),
    )
    latency_bps_per_ms: Decimal = Field(
        default=Decimal("0.01"),
        ge=0,
        description="Expected adverse price drift per millisecond of a venue's latency",
    )
    compare_with_paper: bool = Field(
        default=True,
        description="Work every live order on paper too and report the venue fill next to it",
    )
    session_calendar: str = Field(
        default="24/7",
        description=(
            "When the venue trades: 24/7 (crypto) or an exchange-calendars code (XNYS: US "
            "stocks' regular hours, holidays and early closes included); orders go out only "
            "while it is open"
        ),
    )
    outside_session: Literal["refuse", "hold"] = Field(
        default="refuse",
        description=(
            "An order outside the session: refuse it (rejected, with the next open in the "
            "reason) or hold it and send it on the first bar of the next session (a dry run "
            "refuses)"
        ),
    )
    max_client_order_id: int = Field(
        default=36,
        ge=25,
        description=(
            "Longest client order id the venue takes (Binance 36, Alpaca 128); a longer order "
            "id is sent as a deterministic 25-character digest of it"
        ),
    )
    reconcile_lookback_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How far back (venue time) reconciliation reads the venues' fills",
    )
    cash_currency: str = Field(
        default="USD",
        min_length=1,
        description="Quote currency of assets named without one (stocks: AAPL), for balances",
    )

    @field_validator("session_calendar")
    @classmethod
    def _known_calendar(cls, name: str) -> str:
        from operators.candles.calendars import calendar_for

        calendar_for(name)  # raises ValueError naming the choices
        return name
