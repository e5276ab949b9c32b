"""Round trips (closed trades) rebuilt from fills, per asset, in fill order.

A trade starts when an asset's position leaves zero and ends when it returns to zero; a fill
that goes through zero closes the trade and opens the next with the remainder (its fee split
pro rata). P&L uses the same average-price rule as :mod:`operators.portfolio.book`, so the sum
of closed trades' gross P&L equals the book's realized P&L. ``net_pnl`` subtracts every fee
paid on the trade's fills, entries and exits.

>>> from datetime import UTC, datetime, timedelta
>>> from schemas.common import Side
>>> t = datetime(2022, 1, 1, tzinfo=UTC)
>>> def fill(i, side, qty, price, fee):
...     return Fill(fill_id=f"f{i}", order_id=f"o{i}", asset="A/B", side=side,
...                 quantity=Decimal(qty), price=Decimal(price), fee=Decimal(fee),
...                 ts=t + timedelta(minutes=i))
>>> trades = round_trips([fill(1, Side.BUY, 2, 100, "0.2"), fill(2, Side.SELL, 2, 90, "0.18")])
>>> trades[0].gross_pnl, trades[0].fees, trades[0].net_pnl, trades[0].closed
(Decimal('-20'), Decimal('0.38'), Decimal('-20.38'), True)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from schemas.common import Side
from schemas.trading import Fill

ZERO = Decimal(0)


@dataclass(slots=True)
class RoundTrip:
    """One trade: from a flat position back to flat (or still open at the end)."""

    asset: str
    direction: int
    opened_at: datetime
    closed_at: datetime | None = None
    max_quantity: Decimal = ZERO
    entry_quantity: Decimal = ZERO
    entry_notional: Decimal = ZERO
    exit_quantity: Decimal = ZERO
    exit_notional: Decimal = ZERO
    gross_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    order_ids: list[str] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    @property
    def net_pnl(self) -> Decimal:
        return self.gross_pnl - self.fees

    @property
    def entry_price(self) -> Decimal:
        return self.entry_notional / self.entry_quantity if self.entry_quantity else ZERO

    @property
    def exit_price(self) -> Decimal | None:
        return self.exit_notional / self.exit_quantity if self.exit_quantity else None

    @property
    def entry_order_id(self) -> str:
        return self.order_ids[0]

    def _add(self, order_id: str) -> None:
        if order_id not in self.order_ids:
            self.order_ids.append(order_id)


def round_trips(fills: Iterable[Fill]) -> list[RoundTrip]:
    """Closed and open trades, ordered by opening time (then asset)."""
    out: list[RoundTrip] = []
    open_trip: dict[str, RoundTrip] = {}
    position: dict[str, Decimal] = {}
    average: dict[str, Decimal] = {}
    for fill in fills:
        asset = fill.asset
        signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
        qty = position.get(asset, ZERO)
        remaining, fee_left = signed, fill.fee
        if qty != 0 and (qty > 0) != (signed > 0):  # reduces (maybe through zero)
            trip = open_trip[asset]
            closed = min(abs(signed), abs(qty))
            fee_part = fill.fee * closed / fill.quantity
            trip.gross_pnl += closed * (fill.price - average[asset]) * trip.direction
            trip.fees += fee_part
            trip.exit_quantity += closed
            trip.exit_notional += closed * fill.price
            trip._add(fill.order_id)
            qty += closed if signed > 0 else -closed
            remaining = signed - (closed if signed > 0 else -closed)
            fee_left = fill.fee - fee_part
            if qty == 0:
                trip.closed_at = fill.ts
                del open_trip[asset]
        if remaining != 0:  # opens or adds
            trip = open_trip.get(asset)
            if trip is None:
                trip = RoundTrip(
                    asset=asset, direction=1 if remaining > 0 else -1, opened_at=fill.ts
                )
                open_trip[asset] = trip
                out.append(trip)
                average[asset] = ZERO
            size = abs(remaining)
            average[asset] = (abs(qty) * average[asset] + size * fill.price) / (abs(qty) + size)
            qty += remaining
            trip.entry_quantity += size
            trip.entry_notional += size * fill.price
            trip.fees += fee_left
            trip.max_quantity = max(trip.max_quantity, abs(qty))
            trip._add(fill.order_id)
        position[asset] = qty
    return out
