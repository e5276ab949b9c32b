"""Pre-execution risk: one validated :class:`RiskConfig`, the guards that turn every order
intent into a :class:`~schemas.trading.RiskDecision` with a reason code, the circuit breakers
and the trading state (ACTIVE / REDUCING / HALTED).

>>> from operators.risk import RiskConfig, TradingStateMachine
>>> RiskConfig().max_open_positions, TradingStateMachine().state.value
(5, 'active')
"""

from operators.risk.breakers import CircuitBreakers
from operators.risk.config import RiskConfig
from operators.risk.costs import CostEstimate
from operators.risk.guards import RiskContext, RiskGuard, reduces_exposure, signed_quantity
from operators.risk.state import TradingStateChange, TradingStateMachine

__all__ = [
    "CircuitBreakers",
    "CostEstimate",
    "RiskConfig",
    "RiskContext",
    "RiskGuard",
    "TradingStateChange",
    "TradingStateMachine",
    "reduces_exposure",
    "signed_quantity",
]
