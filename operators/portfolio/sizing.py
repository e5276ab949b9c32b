"""Position sizing and the exit plan of a new position.

``quantity = min(max_position / price, risk_budget / stop_distance)`` rounded down to the lot
step, with

* ``risk_budget = equity × risk_per_trade_pct / 100`` (what the stop may lose),
* ``stop_distance = stop_atr_multiple × ATR(20)``, kept within ``min_stop_distance_pct`` and
  ``max_stop_distance_pct`` of the price (a stop at or beyond 100 % would sit at or below zero
  for a long, so the maximum must be below 100),
* take-profit at ``take_profit_r`` × R (default 2R) and a partial close of
  ``partial_close_fraction`` at ``partial_close_r`` × R (default half at +1R), R being the stop
  distance; an optional trailing stop follows the best price at ``trailing_stop_atr_multiple`` ×
  ATR.

>>> plan = size_position(equity=Decimal(100000), price=Decimal(40000), atr=Decimal(200),
...                      direction=1, max_position_notional=Decimal(50000),
...                      config=SizingConfig(), instrument=InstrumentSpec())
>>> plan.quantity, plan.capped_by
(Decimal('1.25000000'), 'risk_budget')
>>> [float(p) for p in (plan.stop_price, plan.partial_target, plan.take_profit)]
[39600.0, 40400.0, 40800.0]
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from operators.portfolio.instruments import InstrumentSpec


class SizingError(ValueError):
    """No position can be sized (missing ATR, size below one lot, …); the message says why."""


class SizingConfig(BaseModel):
    """How much to risk per trade and where the stop and targets go.

    >>> SizingConfig(max_stop_distance_pct=100)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for SizingConfig
    max_stop_distance_pct
      Input should be less than 100 ...
    ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    risk_per_trade_pct: float = Field(default=0.5, gt=0, le=100, description="Of equity")
    stop_atr_multiple: float = Field(default=2.0, gt=0, le=100, description="k in k × ATR(20)")
    min_stop_distance_pct: float = Field(default=0.1, gt=0, lt=100)
    max_stop_distance_pct: float = Field(default=20.0, gt=0, lt=100)
    take_profit_r: float = Field(default=2.0, gt=0, le=100)
    partial_close_r: float | None = Field(default=1.0, gt=0, le=100)
    partial_close_fraction: float = Field(default=0.5, gt=0, lt=1)
    breakeven_after_partial: bool = Field(
        default=True, description="Move the stop to the entry price once the partial is taken"
    )
    trailing_stop_atr_multiple: float | None = Field(default=None, gt=0, le=100)

    @model_validator(mode="after")
    def _consistent(self) -> SizingConfig:
        if self.min_stop_distance_pct > self.max_stop_distance_pct:
            raise ValueError(
                f"min_stop_distance_pct {self.min_stop_distance_pct} exceeds "
                f"max_stop_distance_pct {self.max_stop_distance_pct}"
            )
        if self.partial_close_r is not None and self.partial_close_r >= self.take_profit_r:
            raise ValueError(
                f"partial_close_r {self.partial_close_r} must be below take_profit_r "
                f"{self.take_profit_r}: the partial close comes before the target"
            )
        return self


class SizingPlan(BaseModel):
    """A sized entry: quantity, stop, targets and the numbers that produced them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    direction: int = Field(description="+1 long, -1 short")
    quantity: Decimal = Field(gt=0)
    entry_price: Decimal = Field(gt=0)
    stop_distance: Decimal = Field(gt=0, description="R: price distance to the stop")
    stop_price: Decimal = Field(gt=0)
    take_profit: Decimal = Field(gt=0)
    partial_target: Decimal | None = None
    risk_budget: Decimal = Field(gt=0)
    capped_by: str = Field(description="'risk_budget' or 'max_position'")


def stop_distance_for(price: Decimal, atr: Decimal, config: SizingConfig) -> Decimal:
    """k × ATR kept within the configured percentage band of the price.

    >>> stop_distance_for(Decimal(100), Decimal("0.01"), SizingConfig(min_stop_distance_pct=0.5))
    Decimal('0.5')
    """
    if atr <= 0:
        raise SizingError(f"ATR must be positive to place a stop, got {atr}")
    raw = Decimal(repr(config.stop_atr_multiple)) * atr
    low = price * Decimal(repr(config.min_stop_distance_pct)) / 100
    high = price * Decimal(repr(config.max_stop_distance_pct)) / 100
    return min(max(raw, low), high)


def exit_levels(
    entry: Decimal, direction: int, distance: Decimal, config: SizingConfig, spec: InstrumentSpec
) -> tuple[Decimal, Decimal, Decimal | None]:
    """(stop, take-profit, partial target) around ``entry`` for a stop distance ``distance``."""
    d = Decimal(direction)
    stop = spec.protective_price(entry - d * distance, direction)
    take_profit = spec.round_price(entry + d * Decimal(repr(config.take_profit_r)) * distance)
    partial = (
        None
        if config.partial_close_r is None
        else spec.round_price(entry + d * Decimal(repr(config.partial_close_r)) * distance)
    )
    if stop <= 0:
        raise SizingError(f"stop {stop} at or below zero: stop distance {distance} ≥ price {entry}")
    return stop, take_profit, partial


def size_position(
    *,
    equity: Decimal,
    price: Decimal,
    atr: Decimal | None,
    direction: int,
    max_position_notional: Decimal,
    config: SizingConfig,
    instrument: InstrumentSpec,
) -> SizingPlan:
    """Size an entry of ``direction`` (+1 long, -1 short) at ``price``; raises :class:`SizingError`.

    >>> size_position(equity=Decimal(1000), price=Decimal(100), atr=None, direction=1,
    ...               max_position_notional=Decimal(500), config=SizingConfig(),
    ...               instrument=InstrumentSpec())
    Traceback (most recent call last):
    ...
    operators.portfolio.sizing.SizingError: no ATR available yet: cannot place the stop
    """
    if direction not in (1, -1):
        raise SizingError(f"direction must be +1 or -1, got {direction}")
    if atr is None:
        raise SizingError("no ATR available yet: cannot place the stop")
    if price <= 0:
        raise SizingError(f"price must be positive, got {price}")
    if equity <= 0:
        raise SizingError(f"equity {equity} ≤ 0: nothing to risk")
    distance = stop_distance_for(price, atr, config)
    budget = equity * Decimal(repr(config.risk_per_trade_pct)) / 100
    by_risk = budget / distance
    by_limit = max_position_notional / price
    capped_by = "risk_budget" if by_risk <= by_limit else "max_position"
    quantity = instrument.round_quantity(min(by_risk, by_limit))
    if quantity < instrument.smallest_quantity:
        raise SizingError(
            f"size {min(by_risk, by_limit):.10f} rounds below the minimum quantity "
            f"{instrument.smallest_quantity}"
        )
    stop, take_profit, partial = exit_levels(price, direction, distance, config, instrument)
    return SizingPlan(
        direction=direction,
        quantity=quantity,
        entry_price=price,
        stop_distance=distance,
        stop_price=stop,
        take_profit=take_profit,
        partial_target=partial,
        risk_budget=budget,
        capped_by=capped_by,
    )
