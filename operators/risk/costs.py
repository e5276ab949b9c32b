"""What an order is expected to cost before it is sent: the figure the risk guards judge and
show with their decision.

The cost *model* (fees, slippage) belongs to execution (:mod:`operators.execution.costs`, which
builds this record); the record lives here so that risk reads it without importing execution.

>>> est = CostEstimate(fee=Decimal("4.2"), slippage=Decimal("1.1"), slippage_bps=1.3,
...                    expected_price=Decimal("100"))
>>> est.total, est.liquidity.value
(Decimal('5.3'), 'taker')
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from schemas.trading import Liquidity


class CostEstimate(BaseModel):
    """What an order is expected to cost, in quote currency, before it is sent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fee: Decimal = Field(ge=0)
    slippage: Decimal = Field(ge=0, description="quantity × |expected price − mid|")
    slippage_bps: float = Field(ge=0)
    expected_price: Decimal = Field(gt=0)
    liquidity: Liquidity = Liquidity.TAKER

    @property
    def total(self) -> Decimal:
        return self.fee + self.slippage

    def describe(self, currency: str = "") -> str:
        """One line to show with the order.

        >>> CostEstimate(fee=Decimal("4.2"), slippage=Decimal("1.1"), slippage_bps=1.3,
        ...              expected_price=Decimal("100")).describe("USDT")
        'est. cost 5.3 USDT (fee 4.2 + slippage 1.1, 1.30 bps)'
        """
        unit = f" {currency}" if currency else ""
        return (
            f"est. cost {self.total}{unit} (fee {self.fee} + slippage {self.slippage}, "
            f"{self.slippage_bps:.2f} bps)"
        )
