"""The trading core's intake: which inputs it reads, and when each becomes known.

Every input item is either applied at once (feed health, data quality, control settings, a
venue's report, a kill switch) or buffered in the :class:`~operators.execution.ordering.
EventBuffer` at the instant it became known, until nothing earlier can still arrive. The core
reads candles of its execution timeframe only and the ATR column of its ATR timeframe only
(:func:`reads`); the rest is dropped on arrival, before any per-row work. A batch's usable
bars and ATR values wait as one run each (:meth:`~operators.execution.ordering.EventBuffer.
push_run`), not one heap entry per row.

>>> from operators.execution.trading_config import TradingConfig
>>> from schemas.batches import CandleBatch
>>> bars = CandleBatch.from_columns("A/B", "15m", [0], [1.0], [1.0], [1.0], [1.0], [1.0])
>>> reads(TradingConfig(), bars), reads(TradingConfig(execution_timeframe="15m"), bars)
(False, True)
"""

from __future__ import annotations

import math
from array import array
from typing import Any

import numpy as np

from operators.control.state import ControlSettings
from operators.divergence import DataQualityEvent
from operators.execution.buffered_columns import BarColumns, SymbolValues, int64_array
from operators.execution.engine_state import (
    CANDLE,
    FEATURE,
    MANUAL,
    QUOTE,
    SIGNAL,
    EngineState,
    TradingEvent,
)
from operators.execution.records import ManualAction, ManualActionKind
from operators.execution.trading_config import TradingConfig
from schemas.batches import CandleBatch, FeatureBatch
from schemas.common import NS_PER_SECOND, datetime_to_ns, ns_to_datetime
from schemas.market import BookTop, FeedHealth
from schemas.records import DeadLetter
from schemas.signals import FusedSignal, FusionProgress
from schemas.venue import VenueReport

_AT_ONCE = frozenset({ManualActionKind.SET_TRADING_STATE, ManualActionKind.CLOSE_POSITION})


def reads(config: TradingConfig, item: Any) -> bool:
    """Whether a core trading with ``config`` reads anything of ``item``: every input but
    candles of another timeframe than the execution one and feature batches without the ATR
    column on the ATR timeframe."""
    if isinstance(item, CandleBatch):
        return item.timeframe is config.execution_timeframe
    if isinstance(item, FeatureBatch):
        return item.timeframe is config.atr_timeframe and config.atr_feature in item.columns
    return True


class Intake(EngineState):
    """Turns input items into buffered events (or applies them at once) and says how far
    the buffer may be released."""

    def push(self, item: Any) -> list[TradingEvent]:
        """Accept one input item; returns a dead letter for an item it cannot use."""
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            item = item[1]  # (key, value) from a keyed stream
        if isinstance(item, CandleBatch):
            return self._push_candles(item)
        if isinstance(item, FusedSignal):
            known = datetime_to_ns(item.timestamp)
            self._saw_signals(item.asset, known)
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
            self._saw_signals(item.asset, datetime_to_ns(item.ts))
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

    def _saw_signals(self, asset: str, known_ns: int) -> None:
        """Fusion has decided on ``asset`` up to ``known_ns``."""
        progress = self.clock.signal_progress
        progress[asset] = max(progress.get(asset, known_ns), known_ns)

    def _saw_market(self, known_ns: int) -> None:
        seen = self.clock.market_known_ns
        self.clock.market_known_ns = known_ns if seen is None else max(seen, known_ns)

    def _push_candles(self, batch: CandleBatch) -> list[TradingEvent]:
        if not reads(self.config, batch):
            self.stats["candles_other_timeframe"] += len(batch)
            return []
        self._market(batch.symbol)
        self.clock.candle_assets.add(batch.symbol)
        if len(batch) == 1 and self._pushed_one_bar(batch):
            return []
        letters: list[TradingEvent] = []
        tf_ns = batch.timeframe.ns
        prices_ok = np.isfinite(batch.close) & (batch.close > 0) & (batch.low > 0)
        if prices_ok.any():
            self._saw_market(int(batch.ts_ns[prices_ok].max()) + tf_ns)
        for i in np.flatnonzero(~prices_ok).tolist():
            letters.append(self._unusable_candle(batch, i))
        usable = slice(None) if prices_ok.all() else prices_ok
        columns = (batch.ts_ns, batch.open, batch.high, batch.low, batch.close, batch.volume)
        bars = BarColumns.of(batch.symbol, tf_ns, *(column[usable] for column in columns))
        self.buffer.push_run(bars.known(), CANDLE, batch.symbol, bars)
        return letters

    def _pushed_one_bar(self, batch: CandleBatch) -> bool:
        """A live feed's one bar, buffered from plain Python numbers (what the column path
        makes of it, without its array work); False: unusable, left to the column path."""
        close, low = float(batch.close[0]), float(batch.low[0])
        if not (math.isfinite(close) and close > 0 and low > 0):
            return False
        tf_ns, open_ns = batch.timeframe.ns, int(batch.ts_ns[0])
        self._saw_market(open_ns + tf_ns)
        open_, high, volume = float(batch.open[0]), float(batch.high[0]), float(batch.volume[0])
        bars = BarColumns.one(batch.symbol, tf_ns, open_ns, open_, high, low, close, volume)
        self.buffer.push_run(array("q", (open_ns + tf_ns,)), CANDLE, batch.symbol, bars)
        return True

    def _unusable_candle(self, batch: CandleBatch, i: int) -> DeadLetter:
        self.stats["dead_lettered"] += 1
        return DeadLetter(
            source="trading",
            symbol=batch.symbol,
            reason="unusable_candle",
            detail=f"candle close {batch.close[i]!r} / low {batch.low[i]!r} unusable",
            raw=repr(batch.row(i)),
            ts=ns_to_datetime(int(batch.ts_ns[i])),
            occurrence=f"trading #{self.stats['dead_lettered']}",
        )

    def _push_features(self, batch: FeatureBatch) -> None:
        if not reads(self.config, batch):
            return
        column = batch.columns[self.config.atr_feature]
        tf_ns = batch.timeframe.ns
        rows = np.flatnonzero(np.isfinite(column) & (column > 0))
        known = int64_array(batch.candles.ts_ns[rows] + tf_ns)
        values = SymbolValues.of(batch.symbol, column[rows])
        self.buffer.push_run(known, FEATURE, batch.symbol, values)

    def _safe_ns(self) -> float:
        """Everything known strictly before this instant may be processed."""
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
