"""Orders of the trading core: what is sent, what the router reports back, and what a change
of trading state cancels.

Every intent (an entry or an exit, :mod:`.entries`) is judged by the risk guards with its
context — the asset's working orders, the exposure elsewhere, the expected costs of the slice
that trades against one bar — and an approved one becomes an :class:`~schemas.trading.Order`
for the router. The router's reports update the orders, the book and the exit plans; halting
cancels every working order, reducing every one that is not reduce-only.
"""

from __future__ import annotations

from decimal import Decimal

from operators.execution.costs import estimate_costs
from operators.execution.engine_state import (
    ZERO,
    AssetMarket,
    EngineState,
    OrderInfo,
    TradingEvent,
)
from operators.portfolio.exits import ExitPlan
from operators.portfolio.sizing import SizingPlan
from operators.risk.costs import CostEstimate
from operators.risk.guards import RiskContext
from operators.risk.state import TradingStateChange
from schemas.common import Side, ns_to_datetime
from schemas.trading import (
    ExecAlgo,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    Position,
    TradingState,
)

_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})


class Orders(EngineState):
    """Sends approved intents to the router and books what it reports."""

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

    def _slice_quantity(self, intent: OrderIntent, market: AssetMarket) -> Decimal:
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
        self.orders[order.order_id] = OrderInfo(intent, plan)
        reports = self.router.submit(order, now, reduce_only=intent.reduce_only)
        events.extend(self._on_execution(reports, now))
        return events
