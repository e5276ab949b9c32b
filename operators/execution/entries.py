"""Entries and exits: what a fused decision, an approved review, an exit plan or a person's
close turns into.

``open`` enters (long or short) unless already positioned that way, closing an opposite
position first; ``flat`` closes. Every entry is sized (:mod:`operators.portfolio.sizing`)
within the room the exposure limits leave; a refusal before an intent exists (shorts disabled,
a stale feed, diverging venues, no candle yet, no size) is still a
:class:`~schemas.trading.RiskDecision`. An exit is a reduce-only market order; a full exit
first cancels the entries still working in the asset.
"""

from __future__ import annotations

from decimal import Decimal

from operators.execution.engine_state import AssetMarket, TradingEvent
from operators.execution.orders import Orders
from operators.portfolio.instruments import to_decimal
from operators.portfolio.sizing import SizingError, size_position
from schemas.common import Side, ns_to_datetime
from schemas.signals import FusedSignal
from schemas.trading import ExecAlgo, OrderIntent, RiskDecision, RiskReason, TradingState


class Entries(Orders):
    """Turns decisions into entry and exit intents (sent through :class:`~.orders.Orders`)."""

    def _check_exit(
        self, asset: str, open_ns: int, high: float, low: float, now: int
    ) -> list[TradingEvent]:
        """The exit plan of ``asset``'s position on a bar it was open for (not while halted):
        a stop or target touched becomes an exit order for a later bar."""
        plan = self.exits.get(asset)
        position = self.book.positions.get(asset)
        if (
            plan is None
            or position is None
            or position.quantity == 0
            or position.opened_ns is None
            or open_ns < position.opened_ns
            or self.guard.state is TradingState.HALTED
        ):
            return []
        action = plan.on_bar(high=to_decimal(high), low=to_decimal(low))
        if action is None:
            return []
        self.stats[f"exits_{action.kind}"] += 1
        return self._exit(asset, action.fraction, f"{action.kind} at {action.level}", now)

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

    def _algo_for(self, quantity: Decimal, market: AssetMarket) -> ExecAlgo:
        cfg = self.config.execution
        volume = market.mean_volume
        if volume and float(quantity) > cfg.slice_above_participation_pct / 100 * volume:
            return cfg.large_order_algo
        return ExecAlgo.IMMEDIATE

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
