"""The portfolio's configuration: capital, currency, shorting, instruments and sizing.

>>> PortfolioConfig(initial_cash=Decimal(0))
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for PortfolioConfig
initial_cash
  Input should be greater than 0 ...
...
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from operators.portfolio.instruments import Instruments
from operators.portfolio.sizing import SizingConfig


class PortfolioConfig(BaseModel):
    """One portfolio in one quote currency (every traded asset must be quoted in it).

    ``equity_interval_seconds`` is the sampling interval of the equity curve (aligned to the
    Unix epoch); the report annualizes its Sharpe and Sortino ratios from it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_cash: Decimal = Field(default=Decimal(100_000), gt=0)
    currency: str = Field(default="USDT", min_length=1, max_length=16)
    allow_short: bool = True
    instruments: Instruments = Instruments()
    sizing: SizingConfig = SizingConfig()
    equity_interval_seconds: int = Field(default=3600, ge=60, le=86_400 * 7)
