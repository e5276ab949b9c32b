"""The portfolio book: cash, signed positions, average price, realized and unrealized P&L.

Accounting (one quote currency for every asset; all amounts ``Decimal``):

* a fill of signed quantity ``s`` (buy > 0) at price ``p`` with fee ``f`` moves cash by
  ``-(s × p) - f``;
* adding to a position moves the average price to the size-weighted mean of the old average and
  the fill; reducing it realizes ``closed × (p - average) × sign(position)`` and keeps the
  average; a fill through zero closes the old position and opens the rest at ``p``;
* ``realized_pnl`` is gross of fees; ``fees_paid`` is kept beside it (net = realized - fees);
* ``equity = cash + Σ quantity × mark``, marks being the latest closes;
* cash and fees are exact; P&L and equity in the emitted records are rounded to
  :data:`MONEY_STEP` (the average price is a division, so P&L carries its rounding).

>>> from datetime import UTC, datetime
>>> from schemas.common import Side
>>> from schemas.trading import Fill
>>> t = datetime(2022, 1, 1, tzinfo=UTC)
>>> book = PortfolioBook(Decimal(1000))
>>> _ = book.apply_fill(Fill(fill_id="f1", order_id="o1", asset="A/B", side=Side.BUY,
...     quantity=Decimal(2), price=Decimal(100), fee=Decimal("0.2"), ts=t))
>>> _ = book.apply_fill(Fill(fill_id="f2", order_id="o2", asset="A/B", side=Side.SELL,
...     quantity=Decimal(1), price=Decimal(110), fee=Decimal("0.11"), ts=t))
>>> book.mark("A/B", Decimal(105))
>>> p = book.positions["A/B"]
>>> p.quantity, p.average_price, p.realized_pnl, book.unrealized_pnl("A/B")
(Decimal('1'), Decimal('100'), Decimal('10'), Decimal('5'))
>>> book.cash, book.equity()  # 1000 - 200.2 + 109.89 ; cash + 1 × 105
(Decimal('909.69'), Decimal('1014.69'))
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from schemas.common import Side, datetime_to_ns, ns_to_datetime
from schemas.operations import EquityPoint
from schemas.trading import Fill, Position

ZERO = Decimal(0)
MONEY_STEP = Decimal("0.00000001")


def money(value: Decimal) -> Decimal:
    """Round an amount of quote currency to :data:`MONEY_STEP` (half to even).

    >>> money(Decimal("1.234567894999"))
    Decimal('1.23456789')
    """
    return value.quantize(MONEY_STEP)


@dataclass(slots=True)
class PositionState:
    """Mutable bookkeeping of one asset's position (the core's working copy)."""

    quantity: Decimal = ZERO
    average_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO
    opened_ns: int | None = None

    @property
    def direction(self) -> int:
        return (self.quantity > 0) - (self.quantity < 0)


class PortfolioBook:
    """Cash and positions of one portfolio (picklable)."""

    def __init__(self, initial_cash: Decimal) -> None:
        if initial_cash <= 0:
            raise ValueError(f"initial_cash must be positive, got {initial_cash}")
        self.initial_cash = initial_cash
        self.cash = initial_cash
        self.positions: dict[str, PositionState] = {}
        self.marks: dict[str, Decimal] = {}
        self.peak_equity = initial_cash

    # --- updates ---------------------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> PositionState:
        """Book one fill; returns the asset's updated position."""
        pos = self.positions.setdefault(fill.asset, PositionState())
        signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
        self.cash -= signed * fill.price + fill.fee
        pos.fees_paid += fill.fee
        fill_ns = datetime_to_ns(fill.ts)
        if pos.quantity == 0 or (pos.quantity > 0) == (signed > 0):
            total = abs(pos.quantity) + abs(signed)
            pos.average_price = (
                abs(pos.quantity) * pos.average_price + abs(signed) * fill.price
            ) / total
            if pos.quantity == 0:
                pos.opened_ns = fill_ns
            pos.quantity += signed
        else:
            closed = min(abs(signed), abs(pos.quantity))
            pos.realized_pnl += closed * (fill.price - pos.average_price) * pos.direction
            after = pos.quantity + signed
            if after == 0:
                pos.average_price, pos.opened_ns = ZERO, None
            elif (after > 0) != (pos.quantity > 0):  # flipped through zero
                pos.average_price, pos.opened_ns = fill.price, fill_ns
            pos.quantity = after
        self.marks.setdefault(fill.asset, fill.price)
        return pos

    def mark(self, asset: str, price: Decimal) -> None:
        """Latest price of ``asset`` (the close of its last bar)."""
        self.marks[asset] = price

    # --- views -----------------------------------------------------------------------------

    def quantity(self, asset: str) -> Decimal:
        pos = self.positions.get(asset)
        return pos.quantity if pos else ZERO

    def unrealized_pnl(self, asset: str) -> Decimal:
        pos = self.positions.get(asset)
        if pos is None or pos.quantity == 0:
            return ZERO
        return (self.marks[asset] - pos.average_price) * pos.quantity

    def exposure(self, asset: str) -> Decimal:
        """Signed notional ``quantity × mark``."""
        pos = self.positions.get(asset)
        if pos is None or pos.quantity == 0:
            return ZERO
        return pos.quantity * self.marks[asset]

    def gross_exposure(self) -> Decimal:
        return sum((abs(self.exposure(a)) for a in self.positions), ZERO)

    def open_assets(self) -> list[str]:
        return sorted(a for a, p in self.positions.items() if p.quantity != 0)

    def equity(self) -> Decimal:
        return self.cash + sum((self.exposure(a) for a in self.positions), ZERO)

    def realized_pnl(self) -> Decimal:
        return sum((p.realized_pnl for p in self.positions.values()), ZERO)

    def fees_paid(self) -> Decimal:
        return sum((p.fees_paid for p in self.positions.values()), ZERO)

    def position_record(
        self,
        asset: str,
        now_ns: int,
        stop_price: Decimal | None = None,
        take_profit: Decimal | None = None,
    ) -> Position:
        pos = self.positions.get(asset, PositionState())
        return Position(
            asset=asset,
            quantity=pos.quantity,
            average_price=pos.average_price,
            realized_pnl=money(pos.realized_pnl),
            unrealized_pnl=money(self.unrealized_pnl(asset)),
            fees_paid=pos.fees_paid,
            stop_price=stop_price if pos.quantity else None,
            take_profit=take_profit if pos.quantity else None,
            opened_at=None if pos.opened_ns is None else ns_to_datetime(pos.opened_ns),
            updated_at=ns_to_datetime(now_ns),
        )

    def equity_point(self, now_ns: int) -> EquityPoint:
        """Sample the book; also advances the running equity peak used for drawdown."""
        equity = self.equity()
        self.peak_equity = max(self.peak_equity, equity)
        exposure = {a: self.exposure(a) for a in self.open_assets()}
        drawdown = (self.peak_equity - equity) / self.peak_equity * 100 if equity > 0 else 100
        return EquityPoint(
            ts=ns_to_datetime(now_ns),
            equity=money(equity),
            cash=self.cash,
            realized_pnl=money(self.realized_pnl()),
            unrealized_pnl=money(sum((self.unrealized_pnl(a) for a in exposure), ZERO)),
            fees_paid=self.fees_paid(),
            gross_exposure=money(sum((abs(v) for v in exposure.values()), ZERO)),
            net_exposure=money(sum(exposure.values(), ZERO)),
            exposure={a: money(v) for a, v in exposure.items()},
            open_positions=len(exposure),
            drawdown_pct=float(drawdown),
        )
