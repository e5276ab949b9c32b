"""Trading costs: the maker/taker fee schedule, the slippage model and the pre-trade estimate.

One model serves both the estimate shown with an order before it is sent (risk decision) and
the paper broker's fills, so the estimate is what the simulation then charges.

* Fees: ``notional × bps / 10 000`` in quote currency, rounded *up* to ``fee_step`` (never
  understate a cost). Defaults are Binance spot's base tier, 10 bps maker and taker. A zero fee
  is refused unless ``allow_zero=True`` says the venue really charges nothing.
* Slippage versus mid, in bps: half the quoted spread (from the latest quote, else
  ``default_spread_bps``) plus a square-root market impact
  ``impact_bps_at_full_volume × sqrt(quantity / bar_volume)`` (participation capped at 1), the
  usual shape of empirical impact studies (Almgren et al. 2005).

>>> fees = FeeSchedule()
>>> slip = SlippageModel(default_spread_bps=2.0, impact_bps_at_full_volume=50.0)
>>> est = estimate_costs(Side.BUY, Decimal("1"), Decimal("40000"), fees, slip,
...                      bar_volume=100.0, spread_bps=None)
>>> est.slippage_bps, est.expected_price, est.fee
(6.0, Decimal('40024.0'), Decimal('40.02400000'))
"""

from __future__ import annotations

import math
from decimal import ROUND_UP, Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from operators.risk.costs import CostEstimate
from schemas.common import Side
from schemas.trading import Liquidity

BPS = Decimal(10_000)


class FeeSchedule(BaseModel):
    """Maker/taker fees in basis points of notional; stated explicitly, never zero by accident.

    >>> FeeSchedule(maker_bps=0.0)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for FeeSchedule
      Value error, maker_bps is 0: ...
    ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    maker_bps: float = Field(default=10.0, ge=0, le=1000, description="Binance spot base: 0.10%")
    taker_bps: float = Field(default=10.0, ge=0, le=1000, description="Binance spot base: 0.10%")
    fee_step: Decimal = Field(default=Decimal("0.00000001"), gt=0, description="Rounding unit")
    allow_zero: bool = Field(default=False, description="True only for a genuinely fee-free venue")

    @model_validator(mode="after")
    def _no_accidental_zero(self) -> FeeSchedule:
        if not self.allow_zero:
            for name in ("maker_bps", "taker_bps"):
                if getattr(self, name) == 0:
                    raise ValueError(
                        f"{name} is 0: fees must be modelled; set allow_zero=true if the venue "
                        "really charges nothing"
                    )
        return self

    def rate_bps(self, liquidity: Liquidity) -> float:
        return self.maker_bps if liquidity is Liquidity.MAKER else self.taker_bps

    def fee(self, notional: Decimal, liquidity: Liquidity = Liquidity.TAKER) -> Decimal:
        """Fee on ``notional`` (quote currency), rounded up to ``fee_step``.

        >>> FeeSchedule(taker_bps=7.5).fee(Decimal("1000"))
        Decimal('0.75000000')
        """
        raw = abs(notional) * Decimal(repr(self.rate_bps(liquidity))) / BPS
        return raw.quantize(self.fee_step, rounding=ROUND_UP)


class SlippageModel(BaseModel):
    """Half-spread plus square-root impact, in basis points of mid.

    >>> SlippageModel().impact_bps(quantity=1.0, bar_volume=400.0)
    1.25
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_spread_bps: float = Field(
        default=2.0, ge=0, le=10_000, description="Assumed spread when no quote is available"
    )
    impact_bps_at_full_volume: float = Field(
        default=25.0, ge=0, le=10_000, description="Impact of trading a whole bar's volume"
    )

    def impact_bps(self, quantity: float, bar_volume: float | None) -> float:
        """Impact of ``quantity`` against a bar of ``bar_volume`` (same unit); unknown → full."""
        if quantity <= 0:
            return 0.0
        participation = 1.0 if not bar_volume or bar_volume <= 0 else quantity / bar_volume
        return self.impact_bps_at_full_volume * math.sqrt(min(1.0, participation))

    def slippage_bps(
        self, quantity: float, bar_volume: float | None, spread_bps: float | None
    ) -> float:
        """Total expected cost versus mid: half the spread plus impact."""
        spread = self.default_spread_bps if spread_bps is None else spread_bps
        return spread / 2.0 + self.impact_bps(quantity, bar_volume)


def price_after_slippage(mid: Decimal, side: Side, slippage_bps: float) -> Decimal:
    """Mid moved against the trader by ``slippage_bps``.

    >>> price_after_slippage(Decimal("100"), Side.SELL, 25.0)
    Decimal('99.75')
    """
    move = mid * Decimal(repr(slippage_bps)) / BPS
    return mid + move if side is Side.BUY else mid - move


def estimate_costs(
    side: Side,
    quantity: Decimal,
    mid: Decimal,
    fees: FeeSchedule,
    slippage: SlippageModel,
    *,
    bar_volume: float | None,
    spread_bps: float | None,
    liquidity: Liquidity = Liquidity.TAKER,
    impact_quantity: Decimal | None = None,
) -> CostEstimate:
    """Fee and slippage of trading ``quantity`` at ``mid`` against bars of ``bar_volume``.

    ``bar_volume`` is in base units (the order's unit); ``spread_bps`` is the quoted spread or
    ``None`` to use the model's default. ``impact_quantity`` is what trades against one bar
    (a TWAP/POV slice; default the whole quantity). A maker (resting limit) order pays no
    spread or impact.
    """
    per_bar = quantity if impact_quantity is None else min(impact_quantity, quantity)
    bps = (
        0.0
        if liquidity is Liquidity.MAKER
        else slippage.slippage_bps(float(per_bar), bar_volume, spread_bps)
    )
    price = price_after_slippage(mid, side, bps)
    slip_money = (abs(price - mid) * quantity).quantize(fees.fee_step, rounding=ROUND_UP)
    return CostEstimate(
        fee=fees.fee(price * quantity, liquidity),
        slippage=slip_money,
        slippage_bps=bps,
        expected_price=price,
        liquidity=liquidity,
    )
