"""Equity sampling of the trading core: one point every ``portfolio.equity_interval_seconds``
(epoch-aligned) once every event up to that instant has been processed, and a last point at
the end of the input; and the equity the breakers see after each bar.
"""

from __future__ import annotations

from decimal import Decimal

from operators.execution.engine_state import EngineState, TradingEvent
from schemas.common import NS_PER_SECOND


class Equity(EngineState):
    """Emits the book's equity at its sampling instants."""

    @property
    def _equity_interval_ns(self) -> int:
        return self.config.portfolio.equity_interval_seconds * NS_PER_SECOND

    def _start_equity_clock(self, now: int) -> None:
        """The first sampling instant: the next multiple of the interval after ``now``."""
        interval = self._equity_interval_ns
        self.clock.next_equity_ns = (now // interval + 1) * interval

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

    def _closing_equity(self, now: int) -> list[TradingEvent]:
        """End of input at ``now``: the points still due and one at ``now`` itself."""
        points = self._equity_until(now + 1)
        if self.clock.last_equity_ns != now:
            self.clock.last_equity_ns = now
            points.append(self.book.equity_point(now))
        return points

    def _equity_after_bar(self, asset: str) -> Decimal:
        """The book's equity once a bar of ``asset`` has marked it: the last value while it
        cannot have moved (:meth:`_unmoved_equity`), otherwise (and then always for the bars
        of a held asset) computed again."""
        equity = self._unmoved_equity(asset)
        if equity is None:
            equity = self.book.equity()
            self._equity_seen = (self.book.cash, equity)
        return equity

    def _unmoved_equity(self, asset: str) -> Decimal | None:
        """The equity last computed after a bar, if a bar of ``asset`` cannot move it (else
        ``None``). ``equity = cash + Σ quantity × mark`` over open positions: marking an asset
        without an open position cannot move it, and every fill replaces the cash, so the last
        value holds while the cash is the same object and ``asset`` is flat."""
        seen = self._equity_seen
        if seen is None or seen[0] is not self.book.cash:
            return None
        position = self.book.positions.get(asset)
        return seen[1] if position is None or not position.quantity else None
