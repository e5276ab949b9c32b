"""The trading core: fused decisions and market data in, intents, decisions, orders, fills,
positions and equity out — one portfolio, in event-time order.

A run may trade several portfolios (:mod:`operators.portfolio.portfolios`): each has its own
engine, which sees the market data and decisions of the assets it trades, stamps its id on
every record it emits and scopes its intent, order and action ids with it (the default
portfolio's ids are unscoped, as in a single-portfolio run).

Inputs (any mix, any arrival order): :class:`~schemas.signals.FusedSignal`,
:class:`~schemas.batches.CandleBatch` of the execution timeframe, :class:`~schemas.batches.
FeatureBatch` carrying the ATR column, :class:`~schemas.market.BookTop` quotes and
:class:`~operators.execution.records.ManualAction`. Each becomes known at an event time (a
candle at its close, a signal at its timestamp) and waits in an :class:`~operators.execution.
ordering.EventBuffer` until nothing earlier can still arrive (see ``signal_wait_seconds`` in
:class:`~operators.execution.trading_config.TradingConfig`); :meth:`TradingEngine.flush` at
the end of the input releases the rest. A signal that still arrives after the core has moved
past its time is acted on at the core's current time (counted as ``late_signals``): orders
are always created at the core's clock, so they can only fill on later bars.

Per closed bar of an asset, in this order: the router works open orders on it (fills at the
bar's open, see :mod:`operators.execution.paper`), fills update the book and the exit plans,
the bar's close marks the position, the breakers see the return and the equity, and the exit
plan is checked (an exit becomes a reduce-only market order for a later bar).

A fused decision: ``open`` enters (long or short) unless already positioned that way, closing
an opposite position first; ``review`` is queued as a :class:`~operators.execution.records.
ReviewTicket` until a person approves it (:meth:`TradingEngine.on_manual_action`) or it
expires; ``ignore`` does nothing. Every entry is sized (:mod:`operators.portfolio.sizing`) and
checked by the guards (:mod:`operators.risk.guards`); a refusal before an intent exists (no
ATR yet, size below one lot) is still a :class:`~schemas.trading.RiskDecision`.

Outputs come back in processing order, which is also the audit order: the fused signal, then
what it caused. Equity is sampled every ``portfolio.equity_interval_seconds`` (epoch-aligned)
once every event up to that instant has been processed.

>>> from datetime import UTC, datetime
>>> import numpy as np
>>> from schemas.batches import CandleBatch
>>> from schemas.signals import FusedSignal
>>> t0 = 1_641_000_000_000_000_000 // 60_000_000_000 * 60_000_000_000
>>> minutes = t0 + 60_000_000_000 * np.arange(5)
>>> candles = CandleBatch.from_columns("BTC/USDT", "1m", minutes, [100.0] * 5, [101.0] * 5,
...                                    [99.0] * 5, [100.0] * 5, [1e6] * 5)
>>> engine = TradingEngine(TradingConfig(), atr={"BTC/USDT": 1.0})
>>> signal = FusedSignal(fused_id="fs-1", asset="BTC/USDT", score=0.8, direction="long",
...                      decision="open", timestamp=ns_to_datetime(int(minutes[2])))
>>> events = engine.process([candles, signal]) + engine.flush()
>>> [type(e).__name__ for e in events if not isinstance(e, EquityPoint)]
['FusedSignal', 'OrderIntent', 'RiskDecision', 'Order', 'Fill', 'Position', 'Order',
 'TradingSummary']
>>> fill = next(e for e in events if isinstance(e, Fill))
>>> fill.ts == signal.timestamp  # the first bar opening at or after the signal, never before
True
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from operators.control.state import ControlSettings
from operators.divergence import (
    DataQualityEvent,
    DivergenceConfig,
    DivergenceMonitor,
    EntryBlocker,
)
from operators.execution.costs import CostEstimate, estimate_costs
from operators.execution.live import router_for
from operators.execution.ordering import EventBuffer
from operators.execution.records import (
    ManualAction,
    ManualActionKind,
    ManualActionResult,
    ReviewStatus,
    ReviewTicket,
    TradingSummary,
)
from operators.execution.router import ExecutionRouter, MarketBar
from operators.execution.trading_config import TradingConfig
from operators.portfolio.book import EquityPoint, PortfolioBook
from operators.portfolio.exits import ExitPlan
from operators.portfolio.instruments import to_decimal
from operators.portfolio.routing import SINGLE, PortfolioRouting
from operators.portfolio.sizing import SizingError, SizingPlan, size_position
from operators.risk.config import RiskConfig
from operators.risk.guards import RiskContext, RiskGuard
from operators.risk.state import TradingStateChange
from schemas.batches import CandleBatch, FeatureBatch
from schemas.common import DEFAULT_PORTFOLIO, NS_PER_SECOND, Side, datetime_to_ns, ns_to_datetime
from schemas.market import BookTop, FeedHealth
from schemas.records import DeadLetter
from schemas.signals import Decision, FusedSignal, FusionProgress
from schemas.trading import (
    ExecAlgo,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    Position,
    RiskDecision,
    RiskReason,
    TradingState,
)
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

_Bar = tuple[str, int, int, float, float, float, float, float]
"""A buffered bar: asset, open time, timeframe length (ns), open, high, low, close, volume."""

_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})
_AT_ONCE = frozenset({ManualActionKind.SET_TRADING_STATE, ManualActionKind.CLOSE_POSITION})

_PORTFOLIO_RECORDS = (
    OrderIntent,
    RiskDecision,
    Order,
    Fill,
    Position,
    EquityPoint,
    TradingStateChange,
    ReviewTicket,
    ManualActionResult,
    TradingSummary,
)
"""The core's outputs that belong to one portfolio (they carry its id)."""


@dataclass(slots=True)
class _AssetMarket:
    """What the core knows about one asset's market (latest closed bar, ATR, quote)."""

    volumes: deque[float]
    last_open_ns: int | None = None
    last_close_ns: int | None = None
    close: Decimal | None = None
    atr: Decimal | None = None
    quote: BookTop | None = None

    @property
    def mean_volume(self) -> float | None:
        return sum(self.volumes) / len(self.volumes) if self.volumes else None


@dataclass(slots=True)
class _OrderInfo:
    intent: OrderIntent
    entry_plan: SizingPlan | None = None


@dataclass(slots=True)
class _Review:
    signal: FusedSignal
    ticket: ReviewTicket
    expires_ns: int


@dataclass(slots=True)
class _Clock:
    now_ns: int | None = None
    next_equity_ns: int | None = None
    last_equity_ns: int | None = None
    market_known_ns: int | None = None
    flushing: bool = False
    signal_progress: dict[str, int] = field(default_factory=dict)
    candle_assets: set[str] = field(default_factory=set)


class TradingEngine:
    """Pure trading core: feed it with :meth:`push` / :meth:`process`, end with :meth:`flush`.

    ``atr`` seeds the ATR per asset (tests, or a warm start); live values come from the
    feature stream. ``router`` defaults to what ``trading.mode`` asks for: the paper broker
    (:class:`~operators.execution.paper.PaperBroker`) or the live router (:mod:`.live`).
    ``portfolio`` is the id of the portfolio it trades and ``routing`` says which assets that
    portfolio trades and whose fused signals it passes on (default: the single portfolio).
    The whole object is picklable: it is the Bytewax step's state.
    """

    def __init__(
        self,
        config: TradingConfig,
        *,
        router: ExecutionRouter | None = None,
        atr: Mapping[str, float] | None = None,
        portfolio: str = DEFAULT_PORTFOLIO,
        routing: PortfolioRouting = SINGLE,
    ) -> None:
        self.config = config
        self.portfolio = portfolio
        self.routing = routing
        self.bar_ns = config.execution_timeframe.ns
        self.book = PortfolioBook(config.portfolio.initial_cash)
        self.guard = RiskGuard(config.risk, self.bar_ns)
        self.router = router or router_for(config)
        self.buffer = EventBuffer()
        self.clock = _Clock()
        self.markets: dict[str, _AssetMarket] = {}
        self.exits: dict[str, ExitPlan] = {}
        self.orders: dict[str, _OrderInfo] = {}
        self.reviews: dict[str, _Review] = {}
        self.feed_blocked: dict[str, str] = {}
        """Symbols whose live feed is not healthy (stale, disconnected, catching up): no entries."""
        self.divergence = EntryBlocker()
        """Symbols whose venues disagree on the price (dual-source check): no entries."""
        self.venue_prices: dict[str, DivergenceMonitor] = {}
        """Per asset, the live venues' quoted mids (smart routing's venues must agree)."""
        self.venue_books: dict[tuple[str, str], BookTop] = {}
        """Latest quote of each routing venue, per asset and venue."""
        self.stats: Counter[str] = Counter()
        self._ids = 0
        for asset, value in (atr or {}).items():
            self._market(asset).atr = to_decimal(value)

    # --- input -----------------------------------------------------------------------------

    def push(self, item: Any) -> list[TradingEvent]:
        """Accept one input item; returns a dead letter for an item it cannot use."""
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            item = item[1]  # (key, value) from a keyed stream
        if isinstance(item, CandleBatch):
            return self._push_candles(item)
        if isinstance(item, FusedSignal):
            known = datetime_to_ns(item.timestamp)
            progress = self.clock.signal_progress
            progress[item.asset] = max(progress.get(item.asset, known), known)
            self.buffer.push(known, SIGNAL, f"{item.asset}|{item.fused_id}", item)
        elif isinstance(item, FeedHealth):
            # Health is the feed's state now (wall clock = event time live): applied at once.
            if item.accepting_entries:
                self.feed_blocked.pop(item.symbol, None)
            else:
                self.feed_blocked[item.symbol] = f"{item.source} feed {item.status.value}"
        elif isinstance(item, DataQualityEvent):
            self.divergence.update(item)  # like feed health: the venues' state now
        elif isinstance(item, FusionProgress):
            known = datetime_to_ns(item.ts)
            progress = self.clock.signal_progress
            progress[item.asset] = max(progress.get(item.asset, known), known)
        elif isinstance(item, FeatureBatch):
            self._push_features(item)
        elif isinstance(item, BookTop):
            known = datetime_to_ns(item.ts)
            self._saw_market(known)
            self.buffer.push(known, QUOTE, item.symbol, item)
        elif isinstance(item, ManualAction):
            if item.kind in _AT_ONCE and self.clock.now_ns is not None:
                # A kill switch or a hand close acts at once, at the core's time: it must not
                # wait for the market to reach the wall-clock time a person pressed it at.
                return self._dispatch(self.clock.now_ns, MANUAL, item)
            self.buffer.push(datetime_to_ns(item.ts), MANUAL, item.action_id, item)
        elif isinstance(item, ControlSettings):
            self.reconfigure_risk(item.risk)  # the control room: in force for the next decision
        elif isinstance(item, VenueReport):
            # The venue's word is news now: applied at once, never held behind market data.
            now = self.clock.now_ns or datetime_to_ns(item.ts)
            return self._on_execution(self.router.on_report(item), now)
        else:
            self.stats["dead_lettered"] += 1
            return [
                DeadLetter(
                    source="trading",
                    reason="unsupported_input",
                    detail=f"the trading core cannot use a {type(item).__name__}",
                    raw=repr(item)[:2000],
                    occurrence=f"trading #{self.stats['dead_lettered']}",
                )
            ]
        return []

    def process(self, items: Iterable[Any]) -> list[TradingEvent]:
        """Push ``items`` then release whatever is safe to process."""
        events: list[TradingEvent] = []
        for item in items:
            events.extend(self.push(item))
        events.extend(self.release())
        events.extend(self.router.records())
        return self._stamped(events)

    def _stamped(self, events: list[TradingEvent]) -> list[TradingEvent]:
        """``events`` with this portfolio's id on its records (the default's are as built)."""
        if self.portfolio == DEFAULT_PORTFOLIO:
            return events
        update = {"portfolio": self.portfolio}
        return [
            e.model_copy(update=update) if isinstance(e, _PORTFOLIO_RECORDS) else e for e in events
        ]

    def _scoped(self, local_id: str) -> str:
        """An id unique across portfolios (the default portfolio's ids stay unscoped)."""
        return local_id if self.portfolio == DEFAULT_PORTFOLIO else f"{self.portfolio}:{local_id}"

    def release(self) -> list[TradingEvent]:
        """Process every buffered item known before the safe time."""
        events: list[TradingEvent] = []
        for known, kind, payload in self.buffer.pop_until(self._safe_ns()):
            events.extend(self._dispatch(known, kind, payload))
        while len(self.buffer) > self.config.max_buffered_events:
            self.stats["forced_releases"] += 1
            events.extend(self._dispatch(*self.buffer.pop_oldest()))
        return events

    def flush(self) -> list[TradingEvent]:
        """End of input: process everything buffered, a last equity point and the summary."""
        self.clock.flushing = True
        events = self.release()
        self.clock.flushing = False
        now = self.clock.now_ns
        if now is not None:
            events.extend(self._equity_until(now + 1))
            if self.clock.last_equity_ns != now:
                self.clock.last_equity_ns = now
                events.append(self.book.equity_point(now))
            events.append(TradingSummary(ts=ns_to_datetime(now), counters=self.summary()))
        events.extend(self.router.records())
        return self._stamped(events)

    def reconfigure_risk(self, risk: RiskConfig) -> None:
        """Take new risk limits while running (the control room's versions)."""
        if risk == self.config.risk:
            return
        self.config = self.config.model_copy(update={"risk": risk})
        self.guard.reconfigure(risk)
        for market in self.markets.values():
            if market.volumes.maxlen != risk.volume_lookback_bars:
                market.volumes = deque(market.volumes, maxlen=risk.volume_lookback_bars)

    def on_manual_action(self, action: ManualAction) -> list[TradingEvent]:
        """Entry point for a person's action (approve a review, halt, cancel, close)."""
        return self.process([action])

    # --- views for the API -----------------------------------------------------------------

    @property
    def trading_state(self) -> TradingState:
        return self.guard.state

    def pending_reviews(self) -> list[ReviewTicket]:
        return [r.ticket for r in self.reviews.values()]

    def summary(self) -> dict[str, Any]:
        """Counters of what the core saw and did (for the run summary and report)."""
        return {
            **dict(sorted(self.stats.items())),
            "trading_state": self.guard.state.value,
            "buffered": len(self.buffer),
            "equity": str(self.book.equity()),
        }

    # --- buffering -------------------------------------------------------------------------

    def _market(self, asset: str) -> _AssetMarket:
        market = self.markets.get(asset)
        if market is None:
            market = _AssetMarket(volumes=deque(maxlen=self.config.risk.volume_lookback_bars))
            self.markets[asset] = market
        return market

    def _saw_market(self, known_ns: int) -> None:
        seen = self.clock.market_known_ns
        self.clock.market_known_ns = known_ns if seen is None else max(seen, known_ns)

    def _push_candles(self, batch: CandleBatch) -> list[TradingEvent]:
        if batch.timeframe is not self.config.execution_timeframe:
            self.stats["candles_other_timeframe"] += len(batch)
            return []
        letters: list[TradingEvent] = []
        self._market(batch.symbol)
        self.clock.candle_assets.add(batch.symbol)
        tf_ns = batch.timeframe.ns
        prices_ok = np.isfinite(batch.close) & (batch.close > 0) & (batch.low > 0)
        if prices_ok.any():
            self._saw_market(int(batch.ts_ns[prices_ok].max()) + tf_ns)
        symbol, usable = batch.symbol, prices_ok.tolist()
        # plain Python values once per batch: the per-bar path never touches numpy scalars
        columns = (batch.ts_ns, batch.open, batch.high, batch.low, batch.close, batch.volume)
        rows = zip(*(column.tolist() for column in columns), strict=True)
        for i, (open_ns, *prices) in enumerate(rows):
            if not usable[i]:
                self.stats["dead_lettered"] += 1
                letters.append(
                    DeadLetter(
                        source="trading",
                        symbol=batch.symbol,
                        reason="unusable_candle",
                        detail=f"candle close {batch.close[i]!r} / low {batch.low[i]!r} unusable",
                        raw=repr(batch.row(i)),
                        ts=ns_to_datetime(int(batch.ts_ns[i])),
                        occurrence=f"trading #{self.stats['dead_lettered']}",
                    )
                )
                continue
            bar: _Bar = (symbol, open_ns, tf_ns, *prices)
            self.buffer.push(open_ns + tf_ns, CANDLE, symbol, bar)
        return letters

    def _push_features(self, batch: FeatureBatch) -> None:
        column = batch.columns.get(self.config.atr_feature)
        if batch.timeframe is not self.config.atr_timeframe or column is None:
            return
        tf_ns = batch.timeframe.ns
        for i in np.flatnonzero(np.isfinite(column) & (column > 0)):
            known = int(batch.candles.ts_ns[i]) + tf_ns
            self.buffer.push(known, FEATURE, batch.symbol, (batch.symbol, float(column[i])))

    def _safe_ns(self) -> float:
        clock = self.clock
        if clock.flushing:
            return math.inf
        safe = -math.inf
        assets = clock.candle_assets.union(self.config.assets)
        if assets and all(a in clock.signal_progress for a in assets):
            safe = min(clock.signal_progress[a] for a in assets)
        wait = self.config.signal_wait_seconds
        if wait is not None and clock.market_known_ns is not None:
            safe = max(safe, clock.market_known_ns - round(wait * NS_PER_SECOND) + 1)
        return safe

    # --- dispatch --------------------------------------------------------------------------

    @property
    def _equity_interval_ns(self) -> int:
        return self.config.portfolio.equity_interval_seconds * NS_PER_SECOND

    def _equity_until(self, known_ns: int) -> list[TradingEvent]:
        """Equity points for every sampling instant strictly before ``known_ns``."""
        clock = self.clock
        if clock.next_equity_ns is None:
            return []
        points: list[TradingEvent] = []
        while clock.next_equity_ns < known_ns:
            points.append(self.book.equity_point(clock.next_equity_ns))
            clock.last_equity_ns = clock.next_equity_ns
            clock.next_equity_ns += self._equity_interval_ns
        return points

    def _dispatch(self, known: int, kind: int, payload: Any) -> list[TradingEvent]:
        clock = self.clock
        events = self._equity_until(known)
        late = clock.now_ns is not None and known < clock.now_ns
        now = known if clock.now_ns is None else max(clock.now_ns, known)
        clock.now_ns = now
        if clock.next_equity_ns is None:
            interval = self._equity_interval_ns
            clock.next_equity_ns = (now // interval + 1) * interval
        events.extend(self._on_state_changes(self.guard.expire(now), now))
        events.extend(self._expire_reviews(now))
        if kind == CANDLE:
            events.extend(self._on_bar(payload, now))
        elif kind == SIGNAL:
            if late:
                self.stats["late_signals"] += 1
            events.extend(self._on_signal(payload, now))
        elif kind == FEATURE:
            asset, value = payload
            self._market(asset).atr = to_decimal(value)
        elif kind == QUOTE:
            self._market(payload.symbol).quote = self._consolidated(payload)
            self.router.on_quote(payload)
            events.extend(self._venues_agree(payload))
        else:
            events.extend(self._on_manual(payload, now))
        return events

    # --- market data -----------------------------------------------------------------------

    def _routing_venue(self, quote: BookTop) -> bool:
        live = self.config.live
        return self.config.mode == "live" and quote.source in {v.name for v in live.venues}

    def _consolidated(self, quote: BookTop) -> BookTop:
        """What the risk guards see of the routing venues: the best bid and ask over their
        fresh quotes, with every venue's top size (smart routing takes each of them); a single
        source's quote, or crossed venues, as is."""
        if not self._routing_venue(quote):
            return quote
        self.venue_books[(quote.symbol, quote.source)] = quote
        max_age = int(self.config.execution.quote_max_age_seconds * 1e9)
        now = datetime_to_ns(quote.ts)
        fresh = [
            q
            for (symbol, _), q in self.venue_books.items()
            if symbol == quote.symbol and 0 <= now - datetime_to_ns(q.ts) <= max_age
        ]
        bid, ask = max(q.bid for q in fresh), min(q.ask for q in fresh)
        if len(fresh) < 2 or ask < bid:
            return quote
        return quote.model_copy(
            update={
                "bid": bid,
                "ask": ask,
                "bid_size": sum(q.bid_size for q in fresh),
                "ask_size": sum(q.ask_size for q in fresh),
                "source": "venues",
            }
        )

    def _venues_agree(self, quote: BookTop) -> list[TradingEvent]:
        """The routing venues' mids must agree: a divergence blocks entries until they do."""
        live = self.config.live
        if not self._routing_venue(quote):
            return []
        monitor = self.venue_prices.get(quote.symbol)
        if monitor is None:
            max_skew = self.config.execution.quote_max_age_seconds
            check = DivergenceConfig(threshold_bps=live.divergence_bps, max_skew_s=max_skew)
            monitor = self.venue_prices[quote.symbol] = DivergenceMonitor(quote.symbol, check)
        event = monitor.observe(quote.source, datetime_to_ns(quote.ts), quote.mid)
        if event is None:
            return []
        self.divergence.update(event)
        return [event]

    def _on_bar(self, row: _Bar, now: int) -> list[TradingEvent]:
        asset, open_ns, tf_ns, open_, high, low, close, volume = row
        market = self._market(asset)
        if market.last_open_ns is not None and open_ns <= market.last_open_ns:
            self.stats["candles_out_of_order"] += 1
            return []
        self.stats["candles"] += 1
        spec = self.config.portfolio.instruments.spec(asset)
        bar = MarketBar(
            asset,
            open_ns,
            open_ns + tf_ns,
            open_,
            high,
            low,
            close,
            spec.base_volume(volume, close),
        )
        events = self._on_execution(self.router.on_bar(bar), now)
        market.last_open_ns, market.last_close_ns = open_ns, bar.close_ns
        market.close = to_decimal(close)
        market.volumes.append(bar.volume)
        self.book.mark(asset, market.close)
        changes = self.guard.on_close(asset, now, close)
        changes += self.guard.on_equity(now, self.book.equity())
        events.extend(self._on_state_changes(changes, now))
        plan = self.exits.get(asset)
        position = self.book.positions.get(asset)
        if (
            plan is not None
            and position is not None
            and position.quantity != 0
            and position.opened_ns is not None
            and open_ns >= position.opened_ns
            and self.guard.state is not TradingState.HALTED
        ):
            action = plan.on_bar(high=to_decimal(bar.high), low=to_decimal(bar.low))
            if action is not None:
                self.stats[f"exits_{action.kind}"] += 1
                events.extend(
                    self._exit(asset, action.fraction, f"{action.kind} at {action.level}", now)
                )
        return events

    def _on_execution(self, reports: list[Order | Fill], now: int) -> list[TradingEvent]:
        events: list[TradingEvent] = []
        for report in reports:
            if isinstance(report, Fill):
                events.append(report)
                events.append(self._on_fill(report, now))
            else:
                events.append(report)
                self.stats[f"orders_{report.status.value}"] += 1
                if report.status in _TERMINAL:
                    self.orders.pop(report.order_id, None)
        return events

    def _on_fill(self, fill: Fill, now: int) -> Position:
        self.stats["fills"] += 1
        info = self.orders.get(fill.order_id)
        position = self.book.apply_fill(fill)
        asset = fill.asset
        plan = self.exits.get(asset)
        if position.quantity == 0:
            self.exits.pop(asset, None)
            plan = None
        elif info is not None and info.entry_plan is not None:
            if plan is not None and plan.direction == position.direction:
                plan.reprice(position.average_price)
            else:
                plan = ExitPlan.open(
                    entry=position.average_price,
                    direction=position.direction,
                    stop_distance=info.entry_plan.stop_distance,
                    config=self.config.portfolio.sizing,
                    spec=self.config.portfolio.instruments.spec(asset),
                    atr=self._market(asset).atr,
                )
                self.exits[asset] = plan
        return self.book.position_record(
            asset,
            now,
            stop_price=plan.stop if plan else None,
            take_profit=plan.take_profit if plan else None,
        )

    # --- trading state ---------------------------------------------------------------------

    def _on_state_changes(self, changes: list[TradingStateChange], now: int) -> list[TradingEvent]:
        events: list[TradingEvent] = []
        for change in changes:
            self.stats[f"state_{change.current.value}"] += 1
            events.append(change)
            if change.current is TradingState.HALTED:
                doomed = [o.order_id for o in self.router.working_orders()]
            elif change.current is TradingState.REDUCING:
                doomed = [
                    o.order_id
                    for o in self.router.working_orders()
                    if not self._is_reduce_only(o.order_id)
                ]
            else:
                doomed = []
            for order_id in doomed:
                reason = f"trading {change.current.value}: {change.detail}"
                events.extend(self._on_execution(self.router.cancel(order_id, now, reason), now))
        return events

    # --- decisions -------------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return self._scoped(f"{prefix}-{self._ids}")

    def _is_reduce_only(self, order_id: str) -> bool:
        info = self.orders.get(order_id)
        return info is not None and info.intent.reduce_only

    def _working(self, asset: str) -> tuple[Decimal, Decimal]:
        """Signed unfilled quantity of working orders in ``asset``: (all, reduce-only)."""
        total = reducing = ZERO
        for order in self.router.working_orders():
            if order.asset != asset:
                continue
            rest = order.quantity - order.filled_quantity
            signed = rest if order.side is Side.BUY else -rest
            total += signed
            if self._is_reduce_only(order.order_id):
                reducing += signed
        return total, reducing

    def _on_signal(self, signal: FusedSignal, now: int) -> list[TradingEvent]:
        events: list[TradingEvent] = []
        if self.routing.echoes(self.portfolio, signal.asset):  # one portfolio passes it on
            self.stats[f"fused_{signal.decision.value}"] += 1
            events.append(signal)
        if not self.routing.trades(self.portfolio, signal.asset):
            return events
        if signal.decision is Decision.OPEN:
            events.extend(self._act(signal, now))
        elif signal.decision is Decision.REVIEW:
            expires = now + int(self.config.review_ttl_seconds * NS_PER_SECOND)
            ticket = ReviewTicket(
                fused_id=signal.fused_id,
                asset=signal.asset,
                direction=signal.direction,
                score=signal.score,
                status=ReviewStatus.QUEUED,
                reasons=list(signal.reasons),
                queued_at=ns_to_datetime(now),
                expires_at=ns_to_datetime(expires),
                updated_at=ns_to_datetime(now),
            )
            self.reviews[signal.fused_id] = _Review(signal, ticket, expires)
            self.stats["reviews_queued"] += 1
            events.append(ticket)
            if self.config.review_policy != "queue":
                events.extend(self._simulated_review(signal, now))
        return events

    def _simulated_review(self, signal: FusedSignal, now: int) -> list[TradingEvent]:
        """A backtest has no person at the queue: ``review_policy`` decides, as a recorded,
        audited manual action by the actor ``simulated-reviewer``."""
        kind = (
            ManualActionKind.APPROVE_REVIEW
            if self.config.review_policy == "approve"
            else ManualActionKind.REJECT_REVIEW
        )
        action = ManualAction(
            action_id=self._scoped(f"sim-review-{signal.fused_id}"),
            kind=kind,
            actor="simulated-reviewer",
            ts=ns_to_datetime(now),
            fused_id=signal.fused_id,
            reason=f"review_policy={self.config.review_policy}",
        )
        return self._on_manual(action, now)

    def _act(self, signal: FusedSignal, now: int) -> list[TradingEvent]:
        """Carry out an OPEN decision (or an approved review)."""
        asset = signal.asset
        direction = signal.direction.sign
        pending, _ = self._working(asset)
        projected = self.book.quantity(asset) + pending
        held = (projected > 0) - (projected < 0)
        if direction == 0:
            if held == 0:
                self.stats["flat_without_position"] += 1
                return []
            return self._exit(asset, Decimal(1), f"flat decision {signal.fused_id}", now)
        if held == direction:
            self.stats["already_positioned"] += 1
            return []
        events: list[TradingEvent] = []
        if held != 0:
            events.extend(self._exit(asset, Decimal(1), f"reversal by {signal.fused_id}", now))
        events.extend(self._enter(signal, direction, now))
        return events

    def _refuse(
        self, intent_id: str, asset: str, reason: RiskReason, detail: str, now: int
    ) -> RiskDecision:
        self.stats[f"denied_{reason.value}"] += 1
        return self.guard.decision(intent_id, asset, reason, detail, now)

    def _enter(self, signal: FusedSignal, direction: int, now: int) -> list[TradingEvent]:
        asset = signal.asset
        intent_id = self._scoped(f"{signal.fused_id}:entry")
        if direction < 0 and not self.config.portfolio.allow_short:
            detail = "short positions are disabled (portfolio.allow_short is false)"
            return [self._refuse(intent_id, asset, RiskReason.SHORTS_DISABLED, detail, now)]
        blocked = self.feed_blocked.get(asset)
        if blocked is not None:
            detail = f"no new entries in {asset}: {blocked}"
            return [self._refuse(intent_id, asset, RiskReason.STALE_DATA, detail, now)]
        if self.divergence.blocks(asset):
            detail = f"no new entries in {asset}: {self.divergence.reason(asset)}"
            return [self._refuse(intent_id, asset, RiskReason.DATA_QUALITY, detail, now)]
        market = self._market(asset)
        if market.close is None:
            detail = f"no candle for {asset} yet"
            return [self._refuse(intent_id, asset, RiskReason.STALE_DATA, detail, now)]
        try:
            plan = size_position(
                equity=self.book.equity(),
                price=market.close,
                atr=market.atr,
                direction=direction,
                max_position_notional=self._position_room(asset),
                config=self.config.portfolio.sizing,
                instrument=self.config.portfolio.instruments.spec(asset),
            )
        except SizingError as exc:
            detail = f"cannot size {asset}: {exc}"
            return [self._refuse(intent_id, asset, RiskReason.SIZING, detail, now)]
        intent = OrderIntent(
            intent_id=intent_id,
            asset=asset,
            side=Side.BUY if direction > 0 else Side.SELL,
            quantity=plan.quantity,
            reference_price=market.close,
            stop_price=plan.stop_price,
            take_profit=plan.take_profit,
            algo=self._algo_for(plan.quantity, market),
            fused_id=signal.fused_id,
            reason=(
                f"{signal.decision.value} {signal.direction.value} score {signal.score:+.3f}; "
                f"size capped by {plan.capped_by}"
            ),
            timestamp=ns_to_datetime(now),
        )
        return self._decide_and_send(intent, plan, now)

    def _position_room(self, asset: str) -> Decimal:
        """The largest entry notional the limits allow now: ``max_pos`` of the sizing rule.

        The smallest of ``max_position_notional``, the per-asset exposure limit and what the
        total exposure limit leaves beside the other assets; a limit already used up is left
        to the guards, which then refuse the entry with its reason.
        """
        risk = self.config.risk
        equity = self.book.equity()
        other_gross, _ = self._other_exposure(asset)
        room = [
            risk.max_position_notional,
            equity * Decimal(repr(risk.max_asset_exposure_pct)) / 100,
            equity * Decimal(repr(risk.max_total_exposure_pct)) / 100 - other_gross,
        ]
        return min(r for r in room if r > 0) if any(r > 0 for r in room) else room[0]

    def _other_exposure(self, asset: str) -> tuple[Decimal, int]:
        """Gross projected exposure and number of open positions in every other asset."""
        gross, count = ZERO, 0
        others = {o.asset for o in self.router.working_orders()} | set(self.book.positions)
        for other in sorted(others - {asset}):
            projected = self.book.quantity(other) + self._working(other)[0]
            if projected != 0:
                count += 1
                mark = self.book.marks.get(other) or self._market(other).close or ZERO
                gross += abs(projected) * mark
        return gross, count

    def _algo_for(self, quantity: Decimal, market: _AssetMarket) -> ExecAlgo:
        cfg = self.config.execution
        volume = market.mean_volume
        if volume and float(quantity) > cfg.slice_above_participation_pct / 100 * volume:
            return cfg.large_order_algo
        return ExecAlgo.IMMEDIATE

    def _slice_quantity(self, intent: OrderIntent, market: _AssetMarket) -> Decimal:
        cfg = self.config.execution
        if intent.algo is ExecAlgo.TWAP:
            return intent.quantity / cfg.twap_slices
        if intent.algo is ExecAlgo.POV and market.mean_volume:
            pov = Decimal(repr(cfg.pov_rate_pct / 100 * market.mean_volume))
            return min(intent.quantity, pov)
        return intent.quantity

    def _context(self, intent: OrderIntent, now: int) -> RiskContext:
        asset = intent.asset
        market = self._market(asset)
        pending, _ = self._working(asset)
        other_gross, other_open = self._other_exposure(asset)
        slice_quantity = self._slice_quantity(intent, market)
        quote = self.guard.fresh_book(market.quote, now)
        costs: CostEstimate = estimate_costs(
            intent.side,
            intent.quantity,
            intent.reference_price,
            self.config.execution.fees,
            self.config.execution.slippage,
            bar_volume=market.mean_volume,
            spread_bps=None if quote is None else quote.spread_bps,
            impact_quantity=slice_quantity,
        )
        return RiskContext(
            now_ns=now,
            equity=self.book.equity(),
            last_bar_close_ns=market.last_close_ns,
            bar_ns=self.bar_ns,
            slice_quantity=slice_quantity,
            position=self.book.quantity(asset),
            pending=pending,
            other_gross_exposure=other_gross,
            other_open_positions=other_open,
            mean_bar_volume=market.mean_volume,
            book=market.quote,
            costs=costs,
        )

    def _decide_and_send(
        self, intent: OrderIntent, plan: SizingPlan | None, now: int
    ) -> list[TradingEvent]:
        self.stats["intents"] += 1
        decision = self.guard.check(intent, self._context(intent, now))
        events: list[TradingEvent] = [intent, decision]
        if not decision.approved:
            self.stats[f"denied_{decision.reason.value}"] += 1
            return events
        self.stats["approved"] += 1
        order = Order(
            order_id=f"ord:{intent.intent_id}",
            intent_id=intent.intent_id,
            asset=intent.asset,
            side=intent.side,
            quantity=intent.quantity,
            order_type=intent.order_type,
            limit_price=intent.limit_price,
            algo=intent.algo,
            created_at=ns_to_datetime(now),
            updated_at=ns_to_datetime(now),
            reason=f"{intent.reason}; {decision.detail}",
        )
        self.orders[order.order_id] = _OrderInfo(intent, plan)
        reports = self.router.submit(order, now, reduce_only=intent.reduce_only)
        events.extend(self._on_execution(reports, now))
        return events

    def _exit(self, asset: str, fraction: Decimal, reason: str, now: int) -> list[TradingEvent]:
        """Reduce ``asset``'s position by ``fraction`` (1 = close) with a reduce-only order."""
        events: list[TradingEvent] = []
        position = self.book.quantity(asset)
        if position == 0:
            return events
        if fraction >= 1:  # a full exit first cancels entries still working in the asset
            for order in self.router.working_orders():
                if order.asset == asset and not self._is_reduce_only(order.order_id):
                    reports = self.router.cancel(order.order_id, now, f"superseded by {reason}")
                    events.extend(self._on_execution(reports, now))
        _, reducing = self._working(asset)
        spec = self.config.portfolio.instruments.spec(asset)
        if fraction >= 1:
            quantity = abs(position) - abs(reducing)
        elif reducing != 0:
            return events  # an exit is already working
        else:
            quantity = spec.round_quantity(abs(position) * fraction)
        if quantity < spec.lot_step:
            return events
        market = self._market(asset)
        intent = OrderIntent(
            intent_id=self._next_id(f"exit:{asset}"),
            asset=asset,
            side=Side.SELL if position > 0 else Side.BUY,
            quantity=quantity,
            reference_price=market.close or self.book.marks[asset],
            reduce_only=True,
            reason=reason,
            timestamp=ns_to_datetime(now),
        )
        events.extend(self._decide_and_send(intent, None, now))
        return events

    # --- people ----------------------------------------------------------------------------

    def _expire_reviews(self, now: int) -> list[TradingEvent]:
        if not self.reviews:
            return []
        over = [fid for fid, r in self.reviews.items() if r.expires_ns <= now]
        events: list[TradingEvent] = []
        for fused_id in over:
            review = self.reviews.pop(fused_id)
            self.stats["reviews_expired"] += 1
            events.append(_ticket(review.ticket, ReviewStatus.EXPIRED, now, None))
        return events

    def _on_manual(self, action: ManualAction, now: int) -> list[TradingEvent]:
        self.stats[f"manual_{action.kind.value}"] += 1
        effects: list[TradingEvent] = []
        applied, detail = True, "done"
        kind = action.kind
        if action.portfolio not in (None, self.portfolio):
            applied, detail = False, f"no portfolio {action.portfolio!r}"
        elif kind in (ManualActionKind.APPROVE_REVIEW, ManualActionKind.REJECT_REVIEW):
            review = self.reviews.pop(action.fused_id or "", None)
            if review is None:
                applied, detail = False, f"no queued review {action.fused_id}"
            elif kind is ManualActionKind.APPROVE_REVIEW:
                self.stats["reviews_approved"] += 1
                effects.append(_ticket(review.ticket, ReviewStatus.APPROVED, now, action.actor))
                effects.extend(self._act(review.signal, now))
            else:
                self.stats["reviews_rejected"] += 1
                effects.append(_ticket(review.ticket, ReviewStatus.REJECTED, now, action.actor))
        elif kind is ManualActionKind.SET_TRADING_STATE:
            assert action.state is not None
            note = f"{action.actor}: {action.reason}" if action.reason else action.actor
            changes = self.guard.set_state(
                action.state, now_ns=now, equity=self.book.equity(), detail=note
            )
            effects.extend(self._on_state_changes(changes, now))
            detail = f"trading state {self.guard.state.value}"
        elif kind is ManualActionKind.CANCEL_ORDER:
            reason = f"cancelled by {action.actor}" + (
                f": {action.reason}" if action.reason else ""
            )
            reports = self.router.cancel(action.order_id or "", now, reason)
            if not reports:
                applied, detail = False, f"no working order {action.order_id}"
            effects.extend(self._on_execution(reports, now))
        else:
            asset = action.asset or ""
            if self.book.quantity(asset) == 0:
                applied, detail = False, f"no open position in {asset}"
            else:
                effects.extend(self._exit(asset, Decimal(1), f"closed by {action.actor}", now))
        result = ManualActionResult(
            action=action, applied=applied, detail=detail, ts=ns_to_datetime(now)
        )
        return [result, *effects]


def _ticket(
    ticket: ReviewTicket, status: ReviewStatus, now: int, actor: str | None
) -> ReviewTicket:
    return ticket.model_copy(
        update={"status": status, "updated_at": ns_to_datetime(now), "actor": actor}
    )
