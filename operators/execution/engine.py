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

The concerns live in their own modules, assembled here: intake and input ordering
(:mod:`.intake`, :mod:`.ordering`), quotes (:mod:`.quotes`), entries and exits
(:mod:`.entries`), orders and fills (:mod:`.orders`), reviews and people's actions
(:mod:`.reviews`) and equity sampling (:mod:`.equity`), over the state of :mod:`.engine_state`.

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

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from typing import Any

from operators.divergence import EntryBlocker
from operators.execution.buffered_columns import BarColumns
from operators.execution.engine_state import (
    CANDLE,
    FEATURE,
    QUOTE,
    SIGNAL,
    Bar,
    Clock,
    TradingEvent,
)
from operators.execution.equity import Equity
from operators.execution.intake import Intake
from operators.execution.live import router_for
from operators.execution.ordering import EventBuffer
from operators.execution.quiet_bars import QuietBars
from operators.execution.quotes import Quotes
from operators.execution.records import (
    ManualAction,
    ManualActionResult,
    ReviewTicket,
    TradingSummary,
)
from operators.execution.reviews import Reviews
from operators.execution.router import ExecutionRouter, MarketBar
from operators.execution.trading_config import TradingConfig
from operators.portfolio.book import EquityPoint, PortfolioBook
from operators.portfolio.instruments import to_decimal
from operators.portfolio.routing import SINGLE, PortfolioRouting
from operators.risk.config import RiskConfig
from operators.risk.guards import RiskGuard
from operators.risk.state import TradingStateChange
from schemas.common import DEFAULT_PORTFOLIO, ns_to_datetime
from schemas.signals import Decision, FusedSignal
from schemas.trading import (
    Fill,
    Order,
    OrderIntent,
    Position,
    RiskDecision,
    TradingState,
)

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


class TradingEngine(Intake, Quotes, QuietBars, Equity, Reviews):
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
        self.clock = Clock()
        self.markets = {}
        self.exits = {}
        self.orders = {}
        self.reviews = {}
        self.feed_blocked = {}
        """Symbols whose live feed is not healthy (stale, disconnected, catching up): no entries."""
        self.divergence = EntryBlocker()
        """Symbols whose venues disagree on the price (dual-source check): no entries."""
        self.venue_prices = {}
        """Per asset, the live venues' quoted mids (smart routing's venues must agree)."""
        self.venue_books = {}
        """Latest quote of each routing venue, per asset and venue."""
        self.stats = Counter()
        self._ids = 0
        self._equity_seen = None
        for asset, value in (atr or {}).items():
            self._market(asset).atr = to_decimal(value)

    # --- input and output ------------------------------------------------------------------

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

    def release(self) -> list[TradingEvent]:
        """Process every buffered item known before the safe time."""
        events: list[TradingEvent] = []
        for kind, known, payloads, start, stop in self.buffer.pop_spans_until(self._safe_ns()):
            if kind == CANDLE and isinstance(payloads, BarColumns):
                events.extend(self._on_bar_span(known, payloads, start, stop))
                continue
            for i in range(start, stop):
                events.extend(self._dispatch(known[i], kind, payloads[i]))
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
            events.extend(self._closing_equity(now))
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

    # --- dispatch --------------------------------------------------------------------------

    def _dispatch(self, known: int, kind: int, payload: Any) -> list[TradingEvent]:
        clock = self.clock
        due = clock.next_equity_ns is not None and clock.next_equity_ns < known
        events = self._equity_until(known) if due else []
        late = clock.now_ns is not None and known < clock.now_ns
        now = known if clock.now_ns is None else max(clock.now_ns, known)
        clock.now_ns = now
        if clock.next_equity_ns is None:
            self._start_equity_clock(now)
        changes = self.guard.expire(now)
        if changes:
            events.extend(self._on_state_changes(changes, now))
        if self.reviews:
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
            events.extend(self._on_quote(payload))
        else:
            events.extend(self._on_manual(payload, now))
        return events

    def _on_bar(self, row: Bar, now: int) -> list[TradingEvent]:
        """Per closed bar of an asset, in this order: the router works open orders on it,
        fills update the book and the exit plans, the close marks the position, the breakers
        see the return and the equity, and the exit plan is checked."""
        asset, open_ns, tf_ns, open_, high, low, close, volume = row
        market = self._market(asset)
        if market.last_open_ns is not None and open_ns <= market.last_open_ns:
            self.stats["candles_out_of_order"] += 1
            return []
        self.stats["candles"] += 1
        close_ns = open_ns + tf_ns
        volume = self.config.portfolio.instruments.spec(asset).base_volume(volume, close)
        events: list[TradingEvent] = []
        if self.router.waits_for_bars():
            bar = MarketBar(asset, open_ns, close_ns, open_, high, low, close, volume)
            events = self._on_execution(self.router.on_bar(bar), now)
        market.last_open_ns, market.last_close_ns = open_ns, close_ns
        market.set_close(close)
        market.volumes.append(volume)
        self.book.mark(asset, market.close)
        changes = self.guard.on_close(asset, now, close)
        changes += self.guard.on_equity(now, self._equity_after_bar(asset))
        if changes:
            events.extend(self._on_state_changes(changes, now))
        if asset in self.exits:
            events.extend(self._check_exit(asset, open_ns, high, low, now))
        return events

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
            events.extend(self._queue_review(signal, now))
        return events
