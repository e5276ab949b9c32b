"""Every pre-trade limit in one validated configuration.

Money limits are ``Decimal`` in quote currency; percentages are of current equity (exposure) or
of a reference equity (loss limits) and must lie in their stated ranges; durations are counted
in bars of the execution timeframe or in seconds. An impossible configuration is refused at
start-up with pydantic's message, which names the field:

>>> RiskConfig(max_position_notional=Decimal("-1"))
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for RiskConfig
max_position_notional
  Input should be greater than 0 ...
...
>>> RiskConfig().max_drawdown_pct
10.0
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.trading import TradingState


class RiskConfig(BaseModel):
    """Pre-execution limits, circuit breakers and the order rate limit.

    Exposure percentages may exceed 100 (leverage on a perpetual) up to 1000; loss limits are
    strictly between 0 and 100. A breaker's ``*_action`` is the trading state it switches to:
    ``reducing`` (only exposure-reducing orders) or ``halted`` (nothing new; cancels pass).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # size and exposure
    max_position_notional: Decimal = Field(
        default=Decimal(50_000), gt=0, description="Largest |position| × price in one asset"
    )
    max_asset_exposure_pct: float = Field(
        default=50.0, gt=0, le=1000, description="|position + working orders| × price / equity"
    )
    max_total_exposure_pct: float = Field(
        default=100.0, gt=0, le=1000, description="Gross exposure over all assets / equity"
    )
    max_open_positions: int = Field(default=5, ge=1, le=10_000)
    # liquidity and market quality
    min_depth_ratio: float = Field(
        default=1.0, gt=0, le=100, description="Top-of-book size on the taking side ≥ ratio × slice"
    )
    max_volume_participation_pct: float = Field(
        default=10.0, gt=0, le=100, description="Volume proxy: slice ≤ x% of mean recent bar volume"
    )
    volume_lookback_bars: int = Field(default=20, ge=1, le=100_000)
    max_spread_bps: float = Field(default=25.0, gt=0, le=10_000)
    quote_max_age_seconds: float = Field(
        default=60.0, gt=0, description="Book data older than this counts as absent"
    )
    stale_after_bars: float = Field(
        default=2.0, ge=1, le=1000, description="Stale when no candle closed within N × timeframe"
    )
    # circuit breakers
    daily_loss_limit_pct: float = Field(default=3.0, gt=0, lt=100)
    daily_loss_action: TradingState = TradingState.REDUCING
    max_drawdown_pct: float = Field(default=10.0, gt=0, lt=100)
    drawdown_action: TradingState = TradingState.HALTED
    volatility_spike_multiple: float = Field(
        default=8.0, gt=1, le=1000, description="Spike: |1-bar log return| > k × EWMA sigma"
    )
    volatility_halflife_bars: int = Field(default=60, ge=2, le=1_000_000)
    volatility_warmup_bars: int = Field(default=30, ge=2, le=1_000_000)
    volatility_cooldown_bars: int = Field(default=15, ge=1, le=1_000_000)
    volatility_action: TradingState = TradingState.REDUCING
    # order rate
    max_orders_per_window: int = Field(default=10, ge=1, le=1_000_000)
    order_rate_window_seconds: float = Field(default=60.0, gt=0, le=86_400)

    @field_validator("daily_loss_action", "drawdown_action", "volatility_action")
    @classmethod
    def _breaker_must_restrict(cls, value: TradingState) -> TradingState:
        if value is TradingState.ACTIVE:
            raise ValueError(
                "a circuit breaker must switch to 'reducing' or 'halted', not 'active'"
            )
        return value

    @model_validator(mode="after")
    def _asset_within_total(self) -> RiskConfig:
        if self.max_asset_exposure_pct > self.max_total_exposure_pct:
            raise ValueError(
                f"max_asset_exposure_pct {self.max_asset_exposure_pct} exceeds "
                f"max_total_exposure_pct {self.max_total_exposure_pct}: one asset could never "
                "use its limit"
            )
        return self
