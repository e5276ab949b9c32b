"""Per-asset trading rules (price tick, lot step, minimum size, volume unit) and Decimal helpers.

Money crosses into ``Decimal`` here: market-data prices are floats (exact for every price the
venues publish), so :func:`to_decimal` converts through ``repr`` and never inherits binary noise.

Quantization rules, once for the whole trading core:

* quantities are rounded *down* to the lot step (never trade more than was sized or approved);
* prices are rounded to the tick *against* the trader (:func:`InstrumentSpec.adverse_price`:
  a buy up, a sell down) when they are execution prices, and to the nearest tick otherwise;
* defaults (``price_tick = lot_step = 1e-8``, the satoshi) fit every asset shipped with the
  repository, including the alt/BTC pairs priced around 5e-5 BTC; configure real venue rules per
  asset, e.g. Binance BTC/USDT: tick 0.01, lot 0.00001.

>>> spec = InstrumentSpec(price_tick=Decimal("0.01"), lot_step=Decimal("0.001"))
>>> spec.round_quantity(Decimal("1.23456")), spec.round_price(Decimal("100.005"))
(Decimal('1.234'), Decimal('100.00'))
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.common import Side

SATOSHI = Decimal("0.00000001")


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """A float price or size as the shortest exact ``Decimal`` (no binary noise).

    >>> to_decimal(0.1), to_decimal(46319.0), to_decimal("2.50")
    (Decimal('0.1'), Decimal('46319.0'), Decimal('2.50'))
    >>> to_decimal(float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: cannot convert non-finite number nan to a Decimal amount
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot convert non-finite number {value!r} to a Decimal amount")
        result = Decimal(repr(value))
    else:
        result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"cannot convert non-finite number {value!r} to a Decimal amount")
    return result


def _round_to_step(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    units = (value / step).to_integral_value(rounding=rounding)
    return (units * step).quantize(step)


class InstrumentSpec(BaseModel):
    """Trading rules of one asset.

    ``volume_unit`` says what the candle ``volume`` column counts: ``"base"`` (coins, the
    default) or ``"quote"`` (notional, as in the shipped BTC perpetual file); liquidity checks
    and the paper broker convert quote volume to base units with the bar's price.

    >>> InstrumentSpec(lot_step=Decimal("0.001"), min_quantity=Decimal("0.0005"))
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for InstrumentSpec
      Value error, min_quantity 0.0005 is below lot_step 0.001: no order could ever be ...
    ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    price_tick: Decimal = Field(default=SATOSHI, gt=0, description="Smallest price increment")
    lot_step: Decimal = Field(default=SATOSHI, gt=0, description="Smallest quantity increment")
    min_quantity: Decimal | None = Field(
        default=None, gt=0, description="Smallest order size; defaults to one lot step"
    )
    volume_unit: Literal["base", "quote"] = "base"

    @model_validator(mode="after")
    def _min_quantity_is_a_lot(self) -> InstrumentSpec:
        if self.min_quantity is not None and self.min_quantity < self.lot_step:
            raise ValueError(
                f"min_quantity {self.min_quantity} is below lot_step {self.lot_step}: "
                "no order could ever be that small"
            )
        return self

    @property
    def smallest_quantity(self) -> Decimal:
        return self.min_quantity if self.min_quantity is not None else self.lot_step

    def round_quantity(self, quantity: Decimal) -> Decimal:
        """Round a size *down* to the lot step (never more than sized).

        >>> InstrumentSpec(lot_step=Decimal("0.01")).round_quantity(Decimal("0.999"))
        Decimal('0.99')
        """
        return _round_to_step(quantity, self.lot_step, ROUND_DOWN)

    def round_price(self, price: Decimal) -> Decimal:
        """Round a price to the nearest tick (half to even)."""
        return _round_to_step(price, self.price_tick, ROUND_HALF_EVEN)

    def adverse_price(self, price: Decimal, side: Side) -> Decimal:
        """Round an execution price to the tick against the trader: buys up, sells down.

        >>> spec = InstrumentSpec(price_tick=Decimal("0.5"))
        >>> buy = spec.adverse_price(Decimal("10.1"), Side.BUY)
        >>> buy, spec.adverse_price(Decimal("10.4"), Side.SELL)
        (Decimal('10.5'), Decimal('10.0'))
        """
        rounding = ROUND_CEILING if side is Side.BUY else ROUND_FLOOR
        return _round_to_step(price, self.price_tick, rounding)

    def protective_price(self, price: Decimal, direction: int) -> Decimal:
        """Round a stop for a position of ``direction`` (+1 long, -1 short) away from the market.

        A long's stop rounds down, a short's up: rounding never tightens the planned risk.

        >>> InstrumentSpec(price_tick=Decimal("1")).protective_price(Decimal("99.5"), 1)
        Decimal('99')
        """
        rounding = ROUND_FLOOR if direction > 0 else ROUND_CEILING
        return _round_to_step(price, self.price_tick, rounding)

    def base_volume(self, volume: float, price: float) -> float:
        """Candle volume in base units, whatever unit the feed reports.

        >>> InstrumentSpec(volume_unit="quote").base_volume(1000.0, 50.0)
        20.0
        """
        if self.volume_unit == "quote":
            return volume / price if price > 0 else 0.0
        return volume

    def base_volumes(self, volumes: Sequence[float], prices: Sequence[float]) -> Iterable[float]:
        """:meth:`base_volume` of each volume and price in turn (the volumes themselves when
        the feed reports base units).

        >>> list(InstrumentSpec(volume_unit="quote").base_volumes([1000.0, 5.0], [50.0, 0.0]))
        [20.0, 0.0]
        """
        if self.volume_unit == "quote":
            return map(self.base_volume, volumes, prices)
        return volumes


class Instruments(BaseModel):
    """Rules for every asset: a ``default`` plus per-asset overrides keyed by symbol.

    >>> book = Instruments(assets={"BTC/USDT": InstrumentSpec(price_tick=Decimal("0.01"))})
    >>> book.spec("BTC/USDT").price_tick, book.spec("ETH/BTC").price_tick
    (Decimal('0.01'), Decimal('1E-8'))
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: InstrumentSpec = InstrumentSpec()
    assets: dict[str, InstrumentSpec] = Field(default_factory=dict)

    def spec(self, asset: str) -> InstrumentSpec:
        return self.assets.get(asset, self.default)
