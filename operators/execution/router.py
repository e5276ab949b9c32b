"""The execution router interface: paper today, live adapters (ccxt, Alpaca) tomorrow.

A router receives orders the risk guards approved and reports what happened to them as a
stream of :class:`~schemas.trading.Order` snapshots (one per status change) and
:class:`~schemas.trading.Fill` records, in the order they happened. A simulated venue works
orders on the market bars the trading core feeds it (:meth:`ExecutionRouter.on_bar`); a live
adapter would submit to the venue in :meth:`~ExecutionRouter.submit` and translate the venue's
execution reports, using ``on_bar`` only as a heartbeat.

>>> bar = MarketBar("BTC/USDT", open_ns=0, close_ns=60_000_000_000, open=1.0, high=2.0, low=0.5,
...                 close=1.5, volume=10.0)
>>> bar.volume
10.0
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from schemas.market import BookTop
from schemas.trading import Fill, Order
from schemas.venue import VenueReport

ExecutionEvent = Order | Fill
"""What a router reports: an order's new state, or a fill."""


@dataclass(frozen=True, slots=True)
class MarketBar:
    """One closed bar of an asset, as routers see it; ``volume`` is in base units."""

    asset: str
    open_ns: int
    close_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class ExecutionRouter(ABC):
    """Where approved orders go. Implementations must be picklable (flow state)."""

    @abstractmethod
    def submit(
        self, order: Order, now_ns: int, *, reduce_only: bool = False
    ) -> list[ExecutionEvent]:
        """Accept (status ``new``) or reject (``rejected``, with the reason) a new order."""

    @abstractmethod
    def cancel(self, order_id: str, now_ns: int, reason: str) -> list[ExecutionEvent]:
        """Cancel the unfilled rest of a working order; unknown or finished ids yield nothing."""

    @abstractmethod
    def on_bar(self, bar: MarketBar) -> list[ExecutionEvent]:
        """A bar of ``bar.asset`` closed: fills and status changes it produced."""

    def waits_for_bars(self) -> bool:
        """Whether :meth:`on_bar` can do anything now; a router that says no is not fed the
        bar (a simulated venue with no working order). Default: every bar is fed."""
        return True

    def on_quote(self, quote: BookTop) -> None:  # noqa: B027 - optional hook
        """Latest top of book (used for the spread when available)."""

    @abstractmethod
    def working_orders(self) -> list[Order]:
        """Orders not yet filled, cancelled or rejected."""

    def on_report(self, report: VenueReport) -> list[ExecutionEvent]:
        """A venue's report on an order (live routers); a simulated venue has none."""
        return []

    def records(self) -> list[Any]:
        """Records to output and audit beside the events (commands sent, anomalies), drained."""
        return []
