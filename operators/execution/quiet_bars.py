"""The trading core's quiet bars: a stretch of one asset's bars processed in one go, when none
of them can do more than move that asset's market state.

A bar is *quiet* when the core is flat in its asset (its close cannot move the equity) and has
no exit plan on it, no order is working anywhere (the router has nothing to fill), no review is
waiting, the bar is known no later than the next equity sampling instant, and the breakers are
quiet at the current equity on the bar's day with no tripped breaker running out before it.
Bar by bar (:meth:`~operators.execution.engine.TradingEngine._on_bar`) such a bar is counted,
its close marks the asset, its volume enters the liquidity window and its return feeds the
volatility breaker — nothing else. Here that is done once per stretch of a buffered run
(:meth:`~operators.execution.ordering.EventBuffer.pop_spans_until`), the breaker's recursion in
one loop, with exactly the state the bar-by-bar path leaves. A bar that would trip the
volatility breaker, comes out of order or breaks a condition goes the bar-by-bar way; the rest
of its stretch is tried again after it.

>>> import numpy as np
>>> from operators.execution.engine import TradingEngine
>>> from operators.execution.trading_config import TradingConfig
>>> from schemas.batches import CandleBatch
>>> t0 = 1_641_000_000_000_000_000 // 3_600_000_000_000 * 3_600_000_000_000
>>> minutes = t0 + 60_000_000_000 * np.arange(50)
>>> closes = 100.0 + np.sin(np.arange(50))
>>> bars = CandleBatch.from_columns("BTC/USDT", "1m", minutes, closes, closes + 1, closes - 1,
...                                 closes, [1e6] * 50)
>>> engine = TradingEngine(TradingConfig())
>>> _ = engine.process([bars]) + engine.flush()
>>> engine.stats["candles"], str(engine.markets["BTC/USDT"].close)
(50, '99.0462...')
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from operators.execution.buffered_columns import BarColumns
from operators.execution.engine_state import CANDLE, AssetMarket, EngineState, TradingEvent


class QuietBars(EngineState):
    """Processes a stretch of one asset's buffered bars, quiet ones in one go."""

    def _on_bar_span(
        self, known: Sequence[int], bars: BarColumns, start: int, stop: int
    ) -> list[TradingEvent]:
        """Bars ``start`` to ``stop - 1`` of ``bars`` (known at ``known``), in order."""
        events: list[TradingEvent] = []
        i = start
        while i < stop:
            taken = self._quiet_bars(known, bars, i, stop)
            if taken:
                i += taken
                continue
            events.extend(self._dispatch(known[i], CANDLE, bars[i]))
            i += 1
        return events

    def _quiet_bars(self, known: Sequence[int], bars: BarColumns, start: int, stop: int) -> int:
        """Process the quiet bars from ``start`` on (before ``stop``); returns how many (0: bar
        ``start`` is not quiet)."""
        asset, clock = bars.symbol, self.clock
        market = self.markets.get(asset)
        now, next_equity = clock.now_ns, clock.next_equity_ns
        if (
            market is None
            or market.last_open_ns is None
            or now is None
            or next_equity is None
            or self.reviews
            or asset in self.exits
            or self.router.waits_for_bars()
        ):
            return 0
        equity = self._unmoved_equity(asset)  # the asset is flat: its bars cannot move it
        if equity is None:
            return 0
        until = min(self.guard.quiet_until_ns(now, equity), next_equity + 1)
        if until <= now:
            return 0
        end = bisect_left(known, until, start, stop)
        open_ns, last_open = bars.open_ns, market.last_open_ns
        ordered = start
        while ordered < end and open_ns[ordered] > last_open:
            last_open = open_ns[ordered]
            ordered += 1
        taken = self.guard.absorb_closes(asset, bars.close, start, ordered)
        if taken:
            self._took_quiet(market, known, bars, start, start + taken)
        return taken

    def _took_quiet(
        self, market: AssetMarket, known: Sequence[int], bars: BarColumns, start: int, stop: int
    ) -> None:
        """What bars ``start`` to ``stop - 1`` leave behind, once their breaker part is done."""
        asset, last = bars.symbol, stop - 1
        self.stats["candles"] += stop - start
        spec = self.config.portfolio.instruments.spec(asset)
        window = market.volumes
        first = start if window.maxlen is None else max(start, stop - window.maxlen)
        close, volume = bars.close, bars.volume
        window.extend(spec.base_volumes(volume[first:stop], close[first:stop]))
        market.last_open_ns = bars.open_ns[last]
        market.last_close_ns = market.last_open_ns + bars.tf_ns
        market.set_close(close[last])
        self.book.mark(asset, market.close)
        self.clock.now_ns = max(self.clock.now_ns, known[last])
