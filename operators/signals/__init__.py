"""Signal generators: playbooks (rules), statistics and online learning, run per symbol.

Each generator is a pure, picklable core (:class:`~operators.signals.base.SignalGenerator`);
:class:`~operators.signals.engine.SignalEngine` runs a symbol's generators over its candles in
close-time order and :func:`~operators.signals.operators.generate_signals` wraps it for Bytewax.
"""

from operators.signals.base import SignalGenerator, build_signal
from operators.signals.config import OnlineConfig, SignalsConfig, StatisticConfig
from operators.signals.engine import CloseTick, SignalBatch, SignalEngine
from operators.signals.market_view import CandleRow, MarketView, rows_of
from operators.signals.online import OnlineDirectionLearner
from operators.signals.operators import dead_letters_of, generate_signals, signals_of
from operators.signals.playbook import Playbook
from operators.signals.playbook_loader import PlaybookError, load_playbooks
from operators.signals.rules import PlaybookRule
from operators.signals.statistical import TrendStrength, VolatilityBreakout, ZScoreReversion

__all__ = [
    "CandleRow",
    "CloseTick",
    "MarketView",
    "OnlineConfig",
    "OnlineDirectionLearner",
    "Playbook",
    "PlaybookError",
    "PlaybookRule",
    "SignalBatch",
    "SignalEngine",
    "SignalGenerator",
    "SignalsConfig",
    "StatisticConfig",
    "TrendStrength",
    "VolatilityBreakout",
    "ZScoreReversion",
    "build_signal",
    "dead_letters_of",
    "generate_signals",
    "load_playbooks",
    "rows_of",
    "signals_of",
]
