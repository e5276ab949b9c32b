"""The trading core's whole configuration: risk limits, portfolio, execution and the core.

The run's configuration (``flows/config.py``) embeds it as one section.

>>> cfg = TradingConfig.model_validate({"risk": {"max_open_positions": 3},
...                                     "execution": {"fees": {"taker_bps": 5}}})
>>> cfg.risk.max_open_positions, cfg.execution.fees.taker_bps, cfg.atr_timeframe.value
(3, 5.0, '15m')
>>> TradingConfig.model_validate({"risk": {"max_exposure": 1}})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for TradingConfig
risk.max_exposure
  Extra inputs are not permitted ...
...
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from operators.execution.config import ExecutionConfig
from operators.execution.live_config import LiveConfig
from operators.portfolio.config import PortfolioConfig
from operators.risk.config import RiskConfig
from schemas.common import Timeframe


class TradingConfig(BaseModel):
    """Everything the trading core needs.

    * ``execution_timeframe``: the bars orders are filled on and staleness is measured in
      (``1m``; ``5m`` for a 5-minute data set); candles of other timeframes are ignored;
    * ``atr_feature`` on ``atr_timeframe``: the volatility the stop is placed with;
    * ``review_ttl_seconds``: how long a REVIEW decision waits for a person;
    * ``review_policy``: ``queue`` (a person decides) or, for a backtest with nobody at the
      queue, ``approve``/``reject`` by a simulated reviewer (audited as a manual action);
    * ``assets``: the symbols the core trades. It processes an instant only once every one of
      them has delivered a fused signal at or after it (or ``signal_wait_seconds`` passed), so
      listing them keeps a symbol whose data starts late from being overtaken; empty means
      every symbol seen in the candles so far;
    * ``signal_wait_seconds``: how far (event time) market data may run ahead of the fused
      signals before the core processes it anyway; ``None`` waits for the signal stream's
      progress or the end of the input (exact for a replay); set it for live runs;
    * ``max_buffered_events``: a hard bound on the reorder buffer (oldest released first).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    risk: RiskConfig = RiskConfig()
    portfolio: PortfolioConfig = PortfolioConfig()
    execution: ExecutionConfig = ExecutionConfig()
    assets: tuple[str, ...] = ()
    execution_timeframe: Timeframe = Timeframe.M1
    atr_feature: str = Field(default="atr_20", min_length=1)
    atr_timeframe: Timeframe = Timeframe.M15
    review_ttl_seconds: float = Field(default=1800.0, gt=0)
    review_policy: Literal["queue", "approve", "reject"] = Field(
        default="queue",
        description=(
            "queue: REVIEW decisions wait for a person (live); approve/reject: a simulated "
            "reviewer decides at once (backtests), recorded as an audited manual action"
        ),
    )
    signal_wait_seconds: float | None = Field(default=None, gt=0)
    mode: Literal["paper", "live"] = Field(
        default="paper",
        description="paper: the paper broker fills orders; live: orders go to trading.live.venue",
    )
    live: LiveConfig = Field(default=LiveConfig(), description="Live execution (mode: live)")
    max_buffered_events: int = Field(default=5_000_000, ge=1000)
