"""Orders, fills, positions and risk decisions. Money is ``Decimal`` throughout."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import Field, model_validator

from schemas.common import DEFAULT_PORTFOLIO, Frozen, Side, UtcDatetime


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class ExecAlgo(StrEnum):
    """How the router works an order: all at once, or sliced over time / volume."""

    IMMEDIATE = "immediate"
    TWAP = "twap"
    POV = "pov"


class OrderStatus(StrEnum):
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class OrderIntent(Frozen):
    """What the portfolio wants to do, before risk checks."""

    intent_id: str
    asset: str
    side: Side
    quantity: Decimal = Field(gt=0, description="Base-currency units")
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = Field(default=None, gt=0)
    reference_price: Decimal = Field(gt=0, description="Price the size was computed at")
    stop_price: Decimal | None = Field(default=None, gt=0)
    take_profit: Decimal | None = Field(default=None, gt=0)
    reduce_only: bool = False
    algo: ExecAlgo = ExecAlgo.IMMEDIATE
    fused_id: str | None = None
    reason: str = ""
    timestamp: UtcDatetime
    portfolio: str = Field(default=DEFAULT_PORTFOLIO, description="Portfolio id")

    @model_validator(mode="after")
    def _limit_needs_price(self) -> OrderIntent:
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            raise ValueError("limit_price is required for a limit order")
        return self


class Order(Frozen):
    order_id: str
    intent_id: str
    asset: str
    side: Side
    quantity: Decimal = Field(gt=0)
    filled_quantity: Decimal = Field(default=Decimal(0), ge=0)
    average_price: Decimal | None = None
    status: OrderStatus = OrderStatus.NEW
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    algo: ExecAlgo = ExecAlgo.IMMEDIATE
    created_at: UtcDatetime
    updated_at: UtcDatetime
    reason: str = ""
    portfolio: str = Field(default=DEFAULT_PORTFOLIO, description="Portfolio id")

    @model_validator(mode="after")
    def _not_overfilled(self) -> Order:
        if self.filled_quantity > self.quantity:
            raise ValueError(
                f"filled_quantity {self.filled_quantity} exceeds quantity {self.quantity}"
            )
        return self


class Fill(Frozen):
    fill_id: str
    order_id: str
    asset: str
    side: Side
    quantity: Decimal = Field(gt=0)
    price: Decimal = Field(gt=0)
    fee: Decimal = Field(ge=0, description="In quote currency")
    liquidity: Liquidity = Liquidity.TAKER
    mid_price: Decimal | None = Field(default=None, description="Mid at fill time")
    slippage_bps: float = Field(default=0.0, description="Signed cost vs mid, in basis points")
    ts: UtcDatetime
    portfolio: str = Field(default=DEFAULT_PORTFOLIO, description="Portfolio id")


class Position(Frozen):
    asset: str
    quantity: Decimal = Field(description="Signed: >0 long, <0 short")
    average_price: Decimal = Field(ge=0)
    realized_pnl: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    fees_paid: Decimal = Decimal(0)
    stop_price: Decimal | None = None
    take_profit: Decimal | None = None
    opened_at: UtcDatetime | None = None
    updated_at: UtcDatetime
    portfolio: str = Field(default=DEFAULT_PORTFOLIO, description="Portfolio id")


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class RiskReason(StrEnum):
    APPROVED = "approved"
    MAX_POSITION = "max_position"
    MAX_ASSET_EXPOSURE = "max_asset_exposure"
    MAX_TOTAL_EXPOSURE = "max_total_exposure"
    MAX_OPEN_POSITIONS = "max_open_positions"
    LIQUIDITY = "liquidity"
    SPREAD = "spread"
    STALE_DATA = "stale_data"
    DAILY_LOSS = "daily_loss"
    MAX_DRAWDOWN = "max_drawdown"
    VOLATILITY_SPIKE = "volatility_spike"
    ORDER_RATE = "order_rate"
    HALTED = "halted"
    REDUCING_ONLY = "reducing_only"
    DATA_QUALITY = "data_quality"
    SIZING = "sizing"
    """No position can be sized: no volatility estimate yet, or less than one lot."""
    SHORTS_DISABLED = "shorts_disabled"


class RiskDecision(Frozen):
    decision_id: str
    intent_id: str
    asset: str
    approved: bool
    reason: RiskReason
    detail: str = ""
    trading_state: TradingState
    estimated_fee: Decimal = Decimal(0)
    estimated_slippage: Decimal = Decimal(0)
    timestamp: UtcDatetime
    portfolio: str = Field(default=DEFAULT_PORTFOLIO, description="Portfolio id")
