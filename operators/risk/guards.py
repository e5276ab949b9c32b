"""Pre-execution guards: every intent gets a :class:`~schemas.trading.RiskDecision`.

Checks run in a fixed order and the first failure names the decision's reason:

1. the intent itself (a stop or take-profit on the wrong side of the price) → ``data_quality``;
2. the trading state: ``halted`` refuses every new order, ``reducing`` every order that does not
   reduce exposure (the reason is the breaker that caused the state, or ``halted`` /
   ``reducing_only`` when set by hand);
3. an exposure-reducing order (an exit) is approved here: stale data, spread, limits, liquidity
   and the rate limit never keep a position from being closed;
4. stale data: no candle closed within ``stale_after_bars`` × timeframe → ``stale_data``;
5. spread of a fresh quote above ``max_spread_bps`` → ``spread``;
6. ``|position + working orders + this order| × price`` above ``max_position_notional``;
7. the same as a share of equity above ``max_asset_exposure_pct``;
8. gross exposure over all assets above ``max_total_exposure_pct``;
9. a new position when ``max_open_positions`` are already open;
10. liquidity: with a fresh quote, top-of-book size on the taking side ≥ ``min_depth_ratio`` ×
    the first slice; without one, the slice ≤ ``max_volume_participation_pct`` of the mean
    volume of the last ``volume_lookback_bars`` bars;
11. more than ``max_orders_per_window`` approvals within ``order_rate_window_seconds``.

Limits are inclusive: a value exactly at its limit passes. Every decision carries the cost
estimate (fee and slippage) of the order.

>>> from datetime import UTC, datetime
>>> from schemas.common import NS_PER_MINUTE, Side, datetime_to_ns
>>> now = datetime(2022, 1, 3, 12, tzinfo=UTC)
>>> guard = RiskGuard(RiskConfig(), bar_ns=NS_PER_MINUTE)
>>> intent = OrderIntent(intent_id="i1", asset="BTC/USDT", side=Side.BUY, quantity=Decimal("0.5"),
...                      reference_price=Decimal(40000), timestamp=now)
>>> ctx = RiskContext(now_ns=datetime_to_ns(now), equity=Decimal(100000),
...                   last_bar_close_ns=datetime_to_ns(now), bar_ns=NS_PER_MINUTE,
...                   mean_bar_volume=50.0, slice_quantity=Decimal("0.5"))
>>> decision = guard.check(intent, ctx)
>>> decision.approved, decision.reason.value
(True, 'approved')
>>> guard.check(intent.model_copy(update={"quantity": Decimal(2)}), ctx).reason.value
'max_position'
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from operators.risk.breakers import NS_PER_DAY, CircuitBreakers
from operators.risk.config import RiskConfig
from operators.risk.costs import CostEstimate
from operators.risk.state import TradingStateChange, TradingStateMachine
from schemas.common import NS_PER_SECOND, Side, datetime_to_ns, ns_to_datetime
from schemas.market import BookTop
from schemas.trading import OrderIntent, RiskDecision, RiskReason, TradingState

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class RiskContext:
    """What the guards need to know about the portfolio and the market at decision time.

    Quantities are signed (``>0`` long). ``pending`` is the unfilled remainder of working orders
    in the intent's asset; ``other_*`` describe every other asset (position plus working
    orders). ``mean_bar_volume`` is in base units; ``book`` is the latest quote, if any.
    """

    now_ns: int
    equity: Decimal
    last_bar_close_ns: int | None
    bar_ns: int
    slice_quantity: Decimal
    position: Decimal = ZERO
    pending: Decimal = ZERO
    other_gross_exposure: Decimal = ZERO
    other_open_positions: int = 0
    mean_bar_volume: float | None = None
    book: BookTop | None = None
    costs: CostEstimate | None = None

    @property
    def projected(self) -> Decimal:
        """Position once every working order has filled."""
        return self.position + self.pending


def signed_quantity(intent: OrderIntent) -> Decimal:
    return intent.quantity if intent.side is Side.BUY else -intent.quantity


def reduces_exposure(projected: Decimal, signed: Decimal) -> bool:
    """True when the order shrinks ``|projected|`` without flipping its sign.

    >>> reduces_exposure(Decimal(2), Decimal(-1)), reduces_exposure(Decimal(2), Decimal(-3))
    (True, False)
    """
    after = projected + signed
    return abs(after) < abs(projected) and (after == 0 or (after > 0) == (projected > 0))


Failure = tuple[RiskReason, str] | None


class RiskGuard:
    """Runs the guards, owns the trading state, the breakers and the order-rate window.

    State is plain Python (picklable). ``bar_ns`` is the execution timeframe's length.
    """

    def __init__(self, config: RiskConfig, bar_ns: int) -> None:
        self.config = config
        self.bar_ns = bar_ns
        self.machine = TradingStateMachine()
        self.breakers = CircuitBreakers(config, bar_ns)
        self._approvals: deque[int] = deque()

    @property
    def state(self) -> TradingState:
        return self.machine.state

    def reconfigure(self, config: RiskConfig) -> None:
        """New limits for the next check; the trading state and the breakers' memory stay."""
        self.config = config
        self.breakers.reconfigure(config)

    # --- state: breakers and manual switch ------------------------------------------------

    def on_equity(self, now_ns: int, equity: Decimal) -> list[TradingStateChange]:
        return self.breakers.on_equity(now_ns, equity, self.machine)

    def on_close(self, asset: str, now_ns: int, close: float) -> list[TradingStateChange]:
        return self.breakers.on_close(asset, now_ns, close, self.machine)

    def absorb_closes(self, asset: str, closes: Sequence[float], start: int, stop: int) -> int:
        """Closes fed in one go up to the first volatility trip (see
        :meth:`~operators.risk.breakers.CircuitBreakers.absorb_closes`)."""
        return self.breakers.absorb_closes(asset, closes, start, stop)

    def quiet_until_ns(self, now_ns: int, equity: Decimal) -> int:
        """Up to (excluding) which event time from ``now_ns`` on, with ``equity`` unchanged,
        :meth:`on_equity` and :meth:`expire` change nothing (``now_ns`` itself: not even then):
        the end of the breakers' quiet day, or the first tripped breaker running out."""
        day = now_ns // NS_PER_DAY
        if self.breakers.quiet_day(equity) != day:
            return now_ns
        expiry = self.machine.next_expiry_ns
        end = (day + 1) * NS_PER_DAY
        return end if expiry is None else min(end, expiry)

    def expire(self, now_ns: int) -> list[TradingStateChange]:
        change = self.machine.expire(now_ns)
        return [] if change is None else [change]

    def set_state(
        self, state: TradingState, *, now_ns: int, equity: Decimal, detail: str = ""
    ) -> list[TradingStateChange]:
        """Switch by hand; ``active`` clears the breakers and re-bases day start and peak."""
        change = self.machine.set_manual(state, now_ns=now_ns, detail=detail)
        if state is TradingState.ACTIVE:
            self.breakers.rebaseline(equity)
        return [] if change is None else [change]

    # --- decisions ------------------------------------------------------------------------

    def decision(
        self,
        intent_id: str,
        asset: str,
        reason: RiskReason,
        detail: str,
        now_ns: int,
        costs: CostEstimate | None = None,
    ) -> RiskDecision:
        """A decision record; used directly for refusals that happen before an intent exists."""
        return RiskDecision(
            decision_id=f"risk:{intent_id}",
            intent_id=intent_id,
            asset=asset,
            approved=reason is RiskReason.APPROVED,
            reason=reason,
            detail=detail,
            trading_state=self.state,
            estimated_fee=costs.fee if costs else ZERO,
            estimated_slippage=costs.slippage if costs else ZERO,
            timestamp=ns_to_datetime(now_ns),
        )

    def check(self, intent: OrderIntent, ctx: RiskContext) -> RiskDecision:
        """Decide on ``intent``; an approval counts towards the order-rate window."""
        failure = self._first_failure(intent, ctx)
        if failure is None:
            self._approvals.append(ctx.now_ns)
            detail = ctx.costs.describe() if ctx.costs else "approved"
            return self.decision(
                intent.intent_id, intent.asset, RiskReason.APPROVED, detail, ctx.now_ns, ctx.costs
            )
        reason, detail = failure
        return self.decision(intent.intent_id, intent.asset, reason, detail, ctx.now_ns, ctx.costs)

    def _first_failure(self, intent: OrderIntent, ctx: RiskContext) -> Failure:
        failure = _check_intent(intent) or self._check_state(intent, ctx)
        if failure is not None:
            return failure
        if reduces_exposure(ctx.projected, signed_quantity(intent)):
            return None
        checks: tuple[Callable[[OrderIntent, RiskContext], Failure], ...] = (
            self._check_stale,
            self._check_spread,
            self._check_position,
            self._check_asset_exposure,
            self._check_total_exposure,
            self._check_open_positions,
            self._check_liquidity,
            self._check_rate,
        )
        for check in checks:
            failure = check(intent, ctx)
            if failure is not None:
                return failure
        return None

    def _check_state(self, intent: OrderIntent, ctx: RiskContext) -> Failure:
        state = self.state
        signed = signed_quantity(intent)
        reducing = reduces_exposure(ctx.projected, signed)
        if intent.reduce_only and not reducing:
            return (
                RiskReason.DATA_QUALITY,
                f"reduce-only order {intent.side.value} {intent.quantity} would not reduce the "
                f"projected position {ctx.projected}",
            )
        if state is TradingState.HALTED or (state is TradingState.REDUCING and not reducing):
            reason, detail = self.machine.cause()
            if state is TradingState.REDUCING:
                detail += ": only exposure-reducing orders pass"
            else:
                detail += ": no new orders"
            return reason, detail
        return None

    def _check_stale(self, intent: OrderIntent, ctx: RiskContext) -> Failure:
        limit = self.config.stale_after_bars * ctx.bar_ns
        if ctx.last_bar_close_ns is None:
            return RiskReason.STALE_DATA, f"no candle for {intent.asset} yet"
        age = ctx.now_ns - ctx.last_bar_close_ns
        if age > limit:
            return (
                RiskReason.STALE_DATA,
                f"last {intent.asset} candle closed {age / NS_PER_SECOND:.0f}s ago "
                f"> {limit / NS_PER_SECOND:.0f}s ({self.config.stale_after_bars} bars)",
            )
        return None

    def fresh_book(self, book: BookTop | None, now_ns: int) -> BookTop | None:
        """``book`` if it is at most ``quote_max_age_seconds`` old at ``now_ns``, else None."""
        if book is None:
            return None
        age = now_ns - datetime_to_ns(book.ts)
        return book if 0 <= age <= self.config.quote_max_age_seconds * NS_PER_SECOND else None

    def _check_spread(self, intent: OrderIntent, ctx: RiskContext) -> Failure:
        book = self.fresh_book(ctx.book, ctx.now_ns)
        if book is not None and book.spread_bps > self.config.max_spread_bps:
            return (
                RiskReason.SPREAD,
                f"spread {book.spread_bps:.2f} bps > {self.config.max_spread_bps} bps",
            )
        return None

    def _after_notional(self, intent: OrderIntent, ctx: RiskContext) -> Decimal:
        return abs(ctx.projected + signed_quantity(intent)) * intent.reference_price

    def _check_position(self, intent: OrderIntent, ctx: RiskContext) -> Failure:
        notional = self._after_notional(intent, ctx)
        limit = self.config.max_position_notional
        if notional > limit:
            return (
                RiskReason.MAX_POSITION,
                f"position {intent.asset} would be {notional} > max {limit}",
            )
        return None

    def _check_asset_exposure(self, intent: OrderIntent, ctx: RiskContext) -> Failure:
        if ctx.equity <= 0:
            return RiskReason.MAX_ASSET_EXPOSURE, f"equity {ctx.equity} ≤ 0"
        pct = self._after_notional(intent, ctx) / ctx.equity * 100
        if pct > Decimal(repr(self.config.max_asset_exposure_pct)):
            return (
                RiskReason.MAX_ASSET_EXPOSURE,
                f"{intent.asset} exposure would be {pct:.2f}% of equity "
                f"> {self.config.max_asset_exposure_pct}%",
            )
        return None

    def _check_total_exposure(self, intent: OrderIntent, ctx: RiskContext) -> Failure:
        gross = ctx.other_gross_exposure + self._after_notional(intent, ctx)
        pct = gross / ctx.equity * 100
        if pct > Decimal(repr(self.config.max_total_exposure_pct)):
            return (
                RiskReason.MAX_TOTAL_EXPOSURE,
                f"gross exposure would be {pct:.2f}% of equity "
                f"> {self.config.max_total_exposure_pct}%",
            )
        return None

    def _check_open_positions(self, intent: OrderIntent, ctx: RiskContext) -> Failure:
        opens_new = ctx.projected == 0
        if opens_new and ctx.other_open_positions >= self.config.max_open_positions:
            return (
                RiskReason.MAX_OPEN_POSITIONS,
                f"{ctx.other_open_positions} positions open, max {self.config.max_open_positions}",
            )
        return None

    def _check_liquidity(self, intent: OrderIntent, ctx: RiskContext) -> Failure:
        cfg = self.config
        size = float(ctx.slice_quantity)
        book = self.fresh_book(ctx.book, ctx.now_ns)
        if book is not None:
            depth = book.ask_size if intent.side is Side.BUY else book.bid_size
            if depth < cfg.min_depth_ratio * size:
                return (
                    RiskReason.LIQUIDITY,
                    f"top-of-book depth {depth} < {cfg.min_depth_ratio} × slice {size}",
                )
            return None
        if not ctx.mean_bar_volume or ctx.mean_bar_volume <= 0:
            return RiskReason.LIQUIDITY, f"no recent traded volume for {intent.asset}"
        cap = cfg.max_volume_participation_pct / 100 * ctx.mean_bar_volume
        if size > cap:
            return (
                RiskReason.LIQUIDITY,
                f"slice {size} > {cfg.max_volume_participation_pct}% of mean bar volume "
                f"{ctx.mean_bar_volume:.6g}",
            )
        return None

    def _check_rate(self, intent: OrderIntent, ctx: RiskContext) -> Failure:
        window = int(self.config.order_rate_window_seconds * NS_PER_SECOND)
        while self._approvals and self._approvals[0] <= ctx.now_ns - window:
            self._approvals.popleft()
        if len(self._approvals) >= self.config.max_orders_per_window:
            cfg = self.config
            return (
                RiskReason.ORDER_RATE,
                f"{len(self._approvals)} orders in the last "
                f"{cfg.order_rate_window_seconds:g}s, max {cfg.max_orders_per_window}",
            )
        return None


def _check_intent(intent: OrderIntent) -> Failure:
    """A stop must lie on the losing side of the price, a take-profit on the winning side."""
    price = intent.reference_price
    long = intent.side is Side.BUY
    if intent.reduce_only:
        return None
    if intent.stop_price is not None and (
        intent.stop_price >= price if long else intent.stop_price <= price
    ):
        return (
            RiskReason.DATA_QUALITY,
            f"stop {intent.stop_price} is beyond the price {price} for a "
            f"{'long' if long else 'short'} entry",
        )
    if intent.take_profit is not None and (
        intent.take_profit <= price if long else intent.take_profit >= price
    ):
        return (
            RiskReason.DATA_QUALITY,
            f"take-profit {intent.take_profit} is on the losing side of the price {price}",
        )
    return None
