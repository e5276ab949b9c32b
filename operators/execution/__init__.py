"""Execution: costs (fees, slippage), the router interface, the paper broker, and the trading
core that ties risk, portfolio and execution together, with its Bytewax operator.

>>> from operators.execution import TradingConfig, TradingEngine
>>> TradingEngine(TradingConfig()).trading_state.value
'active'
"""

from operators.execution.config import ExecutionConfig
from operators.execution.costs import FeeSchedule, SlippageModel, estimate_costs
from operators.execution.engine import TradingEngine
from operators.execution.engine_state import TradingEvent, TradingInput
from operators.execution.operator import trading_core
from operators.execution.paper import PaperBroker
from operators.execution.records import (
    ManualAction,
    ManualActionKind,
    ManualActionResult,
    ReviewStatus,
    ReviewTicket,
    TradingSummary,
)
from operators.execution.router import ExecutionEvent, ExecutionRouter, MarketBar
from operators.execution.trading_config import TradingConfig

__all__ = [
    "ExecutionConfig",
    "ExecutionEvent",
    "ExecutionRouter",
    "FeeSchedule",
    "ManualAction",
    "ManualActionKind",
    "ManualActionResult",
    "MarketBar",
    "PaperBroker",
    "ReviewStatus",
    "ReviewTicket",
    "SlippageModel",
    "TradingConfig",
    "TradingEngine",
    "TradingEvent",
    "TradingInput",
    "TradingSummary",
    "estimate_costs",
    "trading_core",
]
