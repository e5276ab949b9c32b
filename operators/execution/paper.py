"""Paper broker: fills simulated on later bars only, with spread, impact, fees and slicing.

Rules (each tested):

* **No look-ahead.** An order created at event time ``t`` is worked only on bars whose open
  time is ``≥ t``; the bar that produced the signal (open ``t - 1 bar``) never fills it.
* **Market orders** fill at the bar's open (the first price after the order existed) moved
  against the trader by half the spread (fresh quote, else ``default_spread_bps``) plus the
  square-root impact of the filled quantity against the bar's volume, rounded to the tick
  against the trader; taker fee. ``Fill.slippage_bps`` is the signed cost versus that mid.
* **Limit orders**: marketable at the open → as a market order but never through the limit;
  otherwise a maker fill at the limit when the bar trades strictly through it.
* **Partial fills**: our fills in one bar never exceed ``max_participation_pct`` of its volume
  (shared by all our orders in the asset, exits first); the rest waits for later bars.
* **Slicing**: TWAP releases ``quantity × k / twap_slices`` cumulatively by the ``k``-th bar;
  POV takes ``pov_rate_pct`` of each bar's volume.
* **Life cycle**: new → partially filled → filled, or cancelled (by request or after
  ``order_timeout_bars`` bars, keeping what filled), or rejected at submission.

>>> from datetime import UTC, datetime
>>> from schemas.common import Side
>>> t0 = 1_640_995_200_000_000_000  # 2022-01-01 00:00 UTC
>>> broker = PaperBroker(ExecutionConfig(), Instruments())
>>> order = Order(order_id="o1", intent_id="i1", asset="A/B", side=Side.BUY,
...               quantity=Decimal(1), created_at=ns_to_datetime(t0), updated_at=ns_to_datetime(t0))
>>> [e.status.value for e in broker.submit(order, t0)]
['new']
>>> early = MarketBar("A/B", t0 - 60 * NS_PER_SECOND, t0, 100.0, 101.0, 99.0, 100.0, 1000.0)
>>> broker.on_bar(early)  # opened before the order existed: never used
[]
>>> fill, update = broker.on_bar(MarketBar("A/B", t0, t0 + 60 * NS_PER_SECOND,
...                                        100.0, 101.0, 99.0, 100.5, 1000.0))
>>> fill.price, fill.fee, update.status.value  # 100 × (1 + (1 + 25·√0.001) bps)
(Decimal('100.01790570'), Decimal('0.10001791'), 'filled')
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from operators.execution.config import ExecutionConfig
from operators.execution.costs import price_after_slippage
from operators.execution.router import ExecutionEvent, ExecutionRouter, MarketBar
from operators.portfolio.instruments import Instruments, to_decimal
from schemas.common import NS_PER_SECOND, Side, datetime_to_ns, ns_to_datetime
from schemas.market import BookTop
from schemas.trading import ExecAlgo, Fill, Liquidity, Order, OrderStatus, OrderType

ZERO = Decimal(0)
BPS = Decimal(10_000)


@dataclass(slots=True)
class _Working:
    order: Order
    created_ns: int
    reduce_only: bool
    seq: int
    bars: int = 0
    notional: Decimal = ZERO
    fills: int = 0

    @property
    def remaining(self) -> Decimal:
        return self.order.quantity - self.order.filled_quantity


class PaperBroker(ExecutionRouter):
    """Simulated venue working orders on closed bars (picklable)."""

    def __init__(self, config: ExecutionConfig, instruments: Instruments) -> None:
        self.config = config
        self.instruments = instruments
        self._working: dict[str, _Working] = {}
        self._quotes: dict[str, BookTop] = {}
        self._seq = 0

    # --- interface -------------------------------------------------------------------------

    def submit(
        self, order: Order, now_ns: int, *, reduce_only: bool = False
    ) -> list[ExecutionEvent]:
        problem = self._rejection(order)
        if problem is not None:
            return [_update(order, now_ns, status=OrderStatus.REJECTED, reason=problem)]
        if order.order_id in self._working:
            return [
                _update(order, now_ns, status=OrderStatus.REJECTED, reason="duplicate order id")
            ]
        created = max(now_ns, datetime_to_ns(order.created_at))
        self._seq += 1
        self._working[order.order_id] = _Working(order, created, reduce_only, self._seq)
        return [order]

    def cancel(self, order_id: str, now_ns: int, reason: str) -> list[ExecutionEvent]:
        work = self._working.pop(order_id, None)
        if work is None:
            return []
        return [_update(work.order, now_ns, status=OrderStatus.CANCELLED, reason=reason)]

    def on_quote(self, quote: BookTop) -> None:
        self._quotes[quote.symbol] = quote

    def working_orders(self) -> list[Order]:
        return [w.order for w in self._working.values()]

    def is_reduce_only(self, order_id: str) -> bool:
        work = self._working.get(order_id)
        return bool(work and work.reduce_only)

    def waits_for_bars(self) -> bool:
        return bool(self._working)

    def on_bar(self, bar: MarketBar) -> list[ExecutionEvent]:
        if not self._working:
            return []
        eligible = sorted(
            (
                w
                for w in self._working.values()
                if w.order.asset == bar.asset and w.created_ns <= bar.open_ns
            ),
            key=lambda w: (not w.reduce_only, w.seq),
        )
        if not eligible:
            return []
        spec = self.instruments.spec(bar.asset)
        capacity = Decimal(repr(self.config.max_participation_pct / 100 * max(bar.volume, 0.0)))
        events: list[ExecutionEvent] = []
        for work in eligible:
            work.bars += 1
            wanted = min(work.remaining, self._slice(work, bar), capacity)
            quantity = spec.round_quantity(max(wanted, ZERO))
            fill = self._fill(work, bar, quantity) if quantity >= spec.lot_step else None
            if fill is not None:
                capacity -= fill.quantity
                events.append(fill)
                events.append(self._record_fill(work, fill, bar.close_ns))
            if work.remaining == 0:
                del self._working[work.order.order_id]
            elif work.bars >= self.config.order_timeout_bars:
                del self._working[work.order.order_id]
                events.append(
                    _update(
                        work.order,
                        bar.close_ns,
                        status=OrderStatus.CANCELLED,
                        reason=(
                            f"timed out after {work.bars} bars: filled "
                            f"{work.order.filled_quantity} of {work.order.quantity}"
                        ),
                    )
                )
        return events

    # --- internals -------------------------------------------------------------------------

    def _rejection(self, order: Order) -> str | None:
        spec = self.instruments.spec(order.asset)
        if order.status is not OrderStatus.NEW or order.filled_quantity != 0:
            return f"only new orders can be submitted, got status {order.status.value}"
        if order.quantity < spec.smallest_quantity:
            return f"quantity {order.quantity} below the minimum {spec.smallest_quantity}"
        if spec.round_quantity(order.quantity) != order.quantity:
            return f"quantity {order.quantity} is not a multiple of the lot step {spec.lot_step}"
        if order.order_type is OrderType.LIMIT and not order.limit_price:
            return "limit order without a limit price"
        return None

    def _slice(self, work: _Working, bar: MarketBar) -> Decimal:
        order = work.order
        if order.algo is ExecAlgo.TWAP:
            slices = self.config.twap_slices
            target = order.quantity * min(work.bars, slices) / slices
            return target - order.filled_quantity
        if order.algo is ExecAlgo.POV:
            return Decimal(repr(self.config.pov_rate_pct / 100 * max(bar.volume, 0.0)))
        return work.remaining

    def _spread_bps(self, asset: str, at_ns: int) -> float | None:
        quote = self._quotes.get(asset)
        if quote is None:
            return None
        age = at_ns - datetime_to_ns(quote.ts)
        if age < 0 or age > self.config.quote_max_age_seconds * NS_PER_SECOND:
            return None
        return quote.spread_bps

    def _fill(self, work: _Working, bar: MarketBar, quantity: Decimal) -> Fill | None:
        order = work.order
        spec = self.instruments.spec(bar.asset)
        mid = to_decimal(bar.open)
        liquidity = Liquidity.TAKER
        bps = self.config.slippage.slippage_bps(
            float(quantity), bar.volume, self._spread_bps(bar.asset, bar.open_ns)
        )
        price = spec.adverse_price(price_after_slippage(mid, order.side, bps), order.side)
        if order.order_type is OrderType.LIMIT:
            assert order.limit_price is not None
            limit = order.limit_price
            buy = order.side is Side.BUY
            if mid <= limit if buy else mid >= limit:  # marketable on arrival
                price = min(price, limit) if buy else max(price, limit)
            elif to_decimal(bar.low) < limit if buy else to_decimal(bar.high) > limit:
                price, liquidity = limit, Liquidity.MAKER
            else:
                return None
        work.fills += 1
        sign = 1 if order.side is Side.BUY else -1
        return Fill(
            fill_id=f"{order.order_id}-f{work.fills}",
            order_id=order.order_id,
            asset=order.asset,
            side=order.side,
            quantity=quantity,
            price=price,
            fee=self.config.fees.fee(price * quantity, liquidity),
            liquidity=liquidity,
            mid_price=mid,
            slippage_bps=float((price - mid) / mid * BPS) * sign,
            ts=ns_to_datetime(bar.open_ns),
        )

    def _record_fill(self, work: _Working, fill: Fill, now_ns: int) -> Order:
        work.notional += fill.price * fill.quantity
        filled = work.order.filled_quantity + fill.quantity
        status = (
            OrderStatus.FILLED if filled == work.order.quantity else OrderStatus.PARTIALLY_FILLED
        )
        work.order = _update(
            work.order,
            now_ns,
            status=status,
            filled_quantity=filled,
            average_price=work.notional / filled,
        )
        return work.order


def _update(order: Order, now_ns: int, **changes: object) -> Order:
    """A new snapshot of ``order`` (records are frozen), validated."""
    data = order.model_dump()
    data.update(changes, updated_at=ns_to_datetime(now_ns))
    return Order.model_validate(data)
