"""How orders are worked: fees, slippage, volume participation, slicing and time-outs.

>>> ExecutionConfig(twap_slices=10, order_timeout_bars=5)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for ExecutionConfig
  Value error, order_timeout_bars 5 is shorter than twap_slices 10: ...
...
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from operators.execution.costs import FeeSchedule, SlippageModel
from schemas.trading import ExecAlgo


class ExecutionConfig(BaseModel):
    """Paper execution and slicing rules.

    * ``max_participation_pct``: our fills in one bar never exceed this share of the bar's
      volume; the rest waits for later bars (partial fills);
    * an entry larger than ``slice_above_participation_pct`` of the mean recent bar volume is
      worked with ``large_order_algo``: TWAP (``twap_slices`` equal slices, one per bar) or POV
      (``pov_rate_pct`` of each bar's volume);
    * whatever is still open after ``order_timeout_bars`` bars is cancelled.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fees: FeeSchedule = FeeSchedule()
    slippage: SlippageModel = SlippageModel()
    max_participation_pct: float = Field(default=10.0, gt=0, le=100)
    slice_above_participation_pct: float = Field(default=2.0, gt=0, le=100)
    large_order_algo: ExecAlgo = ExecAlgo.TWAP
    twap_slices: int = Field(default=5, ge=2, le=10_000)
    pov_rate_pct: float = Field(default=5.0, gt=0, le=100)
    order_timeout_bars: int = Field(default=30, ge=1, le=1_000_000)
    quote_max_age_seconds: float = Field(
        default=60.0, gt=0, description="A quote older than this is not used for the spread"
    )

    @field_validator("large_order_algo")
    @classmethod
    def _slicing_algo(cls, value: ExecAlgo) -> ExecAlgo:
        if value is ExecAlgo.IMMEDIATE:
            raise ValueError("large_order_algo must be 'twap' or 'pov'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ExecutionConfig:
        if self.order_timeout_bars < self.twap_slices:
            raise ValueError(
                f"order_timeout_bars {self.order_timeout_bars} is shorter than twap_slices "
                f"{self.twap_slices}: a TWAP order would always be cancelled"
            )
        if self.pov_rate_pct > self.max_participation_pct:
            raise ValueError(
                f"pov_rate_pct {self.pov_rate_pct} exceeds max_participation_pct "
                f"{self.max_participation_pct}"
            )
        return self
