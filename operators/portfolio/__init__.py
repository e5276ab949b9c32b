"""Portfolio: instruments and Decimal quantization, position sizing, exit plans, the book
(positions, P&L, equity, exposure) and round trips rebuilt from fills.

>>> from decimal import Decimal
>>> from operators.portfolio import PortfolioBook
>>> PortfolioBook(Decimal(1000)).equity()
Decimal('1000')
"""

from operators.portfolio.book import EquityPoint, PortfolioBook, PositionState, money
from operators.portfolio.config import PortfolioConfig
from operators.portfolio.exits import ExitAction, ExitPlan
from operators.portfolio.instruments import Instruments, InstrumentSpec, to_decimal
from operators.portfolio.sizing import SizingConfig, SizingError, SizingPlan, size_position
from operators.portfolio.trades import RoundTrip, round_trips

__all__ = [
    "EquityPoint",
    "ExitAction",
    "ExitPlan",
    "InstrumentSpec",
    "Instruments",
    "PortfolioBook",
    "PortfolioConfig",
    "PositionState",
    "RoundTrip",
    "SizingConfig",
    "SizingError",
    "SizingPlan",
    "money",
    "round_trips",
    "size_position",
    "to_decimal",
]
