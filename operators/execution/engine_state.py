"""What the trading core keeps between inputs, shared by the modules of its concerns.

:class:`~operators.execution.engine.TradingEngine` is assembled from one class per concern —
intake and input ordering (:mod:`.intake`), quotes (:mod:`.quotes`), entries and exits
(:mod:`.orders`), reviews and people's actions (:mod:`.reviews`), equity sampling
(:mod:`.equity`) — over the attributes declared here by :class:`EngineState`. The engine object
with all of them is the Bytewax step's state (pickled whole).

>>> market = AssetMarket(volumes=deque([10.0, 20.0], maxlen=3))
>>> market.mean_volume
15.0
>>> market.set_close(46319.5), market.close
(None, Decimal('46319.5'))
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from decimal import Decimal

from operators.control.state import ControlSettings
from operators.divergence import DataQualityEvent, DivergenceMonitor, EntryBlocker
from operators.execution.ordering import EventBuffer
from operators.execution.records import (
    ManualAction,
    ManualActionResult,
    ReviewTicket,
    TradingSummary,
)
from operators.execution.router import ExecutionRouter
from operators.execution.trading_config import TradingConfig
from operators.portfolio.book import EquityPoint, PortfolioBook
from operators.portfolio.exits import ExitPlan
from operators.portfolio.instruments import to_decimal
from operators.portfolio.routing import PortfolioRouting
from operators.portfolio.sizing import SizingPlan
from operators.risk.guards import RiskGuard
from operators.risk.state import TradingStateChange
from schemas.batches import CandleBatch, FeatureBatch
from schemas.common import DEFAULT_PORTFOLIO
from schemas.market import BookTop, FeedHealth
from schemas.records import DeadLetter
from schemas.signals import FusedSignal, FusionProgress
from schemas.trading import Fill, Order, OrderIntent, Position, RiskDecision
from schemas.venue import VenueReport

ZERO = Decimal(0)

# Same-instant processing order: market data first, then what was decided on it.
QUOTE, CANDLE, FEATURE, SIGNAL, MANUAL = range(5)

TradingInput = (
    FusedSignal
    | FusionProgress
    | FeedHealth
    | CandleBatch
    | FeatureBatch
    | BookTop
    | ManualAction
    | VenueReport
    | DataQualityEvent
    | ControlSettings
)
TradingEvent = (
    DataQualityEvent
    | FusedSignal
    | OrderIntent
    | RiskDecision
    | Order
    | Fill
    | Position
    | EquityPoint
    | TradingStateChange
    | ReviewTicket
    | ManualActionResult
    | TradingSummary
    | DeadLetter
)

Bar = tuple[str, int, int, float, float, float, float, float]
"""A buffered bar: asset, open time, timeframe length (ns), open, high, low, close, volume."""


@dataclass(slots=True)
class AssetMarket:
    """What the core knows about one asset's market (latest closed bar, ATR, quote)."""

    volumes: deque[float]
    last_open_ns: int | None = None
    last_close_ns: int | None = None
    close: Decimal | None = None
    atr: Decimal | None = None
    quote: BookTop | None = None
    close_float: float | None = None
    """``close`` as the bar gave it: an unchanged close is not converted again."""

    @property
    def mean_volume(self) -> float | None:
        return sum(self.volumes) / len(self.volumes) if self.volumes else None

    def set_close(self, close: float) -> None:
        if close != self.close_float or self.close is None:
            self.close_float, self.close = close, to_decimal(close)


@dataclass(slots=True)
class OrderInfo:
    """Why an order of ours exists: its intent, and the sizing plan of an entry."""

    intent: OrderIntent
    entry_plan: SizingPlan | None = None


@dataclass(slots=True)
class Review:
    """A decision waiting for a person, until ``expires_ns``."""

    signal: FusedSignal
    ticket: ReviewTicket
    expires_ns: int


@dataclass(slots=True)
class Clock:
    """The core's event time, its equity sampling instants and how far its inputs have got."""

    now_ns: int | None = None
    next_equity_ns: int | None = None
    last_equity_ns: int | None = None
    market_known_ns: int | None = None
    flushing: bool = False
    signal_progress: dict[str, int] = field(default_factory=dict)
    candle_assets: set[str] = field(default_factory=set)


class EngineState:
    """The attributes every concern of the trading core reads and updates, and the ids it
    gives its records."""

    config: TradingConfig
    portfolio: str
    routing: PortfolioRouting
    bar_ns: int
    book: PortfolioBook
    guard: RiskGuard
    router: ExecutionRouter
    buffer: EventBuffer
    clock: Clock
    markets: dict[str, AssetMarket]
    exits: dict[str, ExitPlan]
    orders: dict[str, OrderInfo]
    reviews: dict[str, Review]
    feed_blocked: dict[str, str]
    divergence: EntryBlocker
    venue_prices: dict[str, DivergenceMonitor]
    venue_books: dict[tuple[str, str], BookTop]
    stats: Counter[str]
    _ids: int
    _equity_seen: tuple[Decimal, Decimal] | None
    """The book's cash and its equity when last computed after a bar (see :mod:`.equity`)."""

    def _market(self, asset: str) -> AssetMarket:
        market = self.markets.get(asset)
        if market is None:
            market = AssetMarket(volumes=deque(maxlen=self.config.risk.volume_lookback_bars))
            self.markets[asset] = market
        return market

    def _scoped(self, local_id: str) -> str:
        """An id unique across portfolios (the default portfolio's ids stay unscoped)."""
        return local_id if self.portfolio == DEFAULT_PORTFOLIO else f"{self.portfolio}:{local_id}"

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return self._scoped(f"{prefix}-{self._ids}")
