"""The live router: orders go to a venue as commands, the venue's reports come back as items.

The trading core never waits for a venue: :meth:`LiveRouter.submit` checks the caps, hands a
:class:`~schemas.venue.VenueCommand` to the venue's dispatcher (a queue, see
:mod:`operators.execution.dispatch`) and returns the order as ``new`` at once. What the venue
does arrives later as :class:`~schemas.venue.VenueReport` items, which
:meth:`LiveRouter.on_report` turns into order updates and fills:

* the order id is the idempotency key (the venue's ``clientOrderId``), so a command sent twice
  (a retry, a resumed flow) is one order at the venue;
* a fill is booked once per venue trade id, whatever path reported it (stream, REST answer,
  reconciliation after a reconnect);
* a refusal becomes ``rejected`` with the venue's reason; ``expired`` (a market order the book
  could not take) becomes ``cancelled`` keeping what filled;
* caps: an entry above ``max_order_notional`` or beyond the day's ``max_daily_notional`` is
  rejected before anything is sent (exits are never blocked by a cap, but count toward it);
* ``dry_run``: commands are recorded (audited) and the paper broker fills the orders.

With ``compare_with_paper`` a shadow :class:`~operators.execution.paper.PaperBroker` works
every order too; when both are done an :class:`~schemas.venue.ExecutionComparison` puts the
venue's average price next to the paper estimate. Those records, the commands and any
anomalies leave through :meth:`LiveRouter.records`.

>>> from datetime import UTC, datetime
>>> from operators.execution.config import ExecutionConfig
>>> from operators.portfolio.instruments import Instruments
>>> from schemas.common import Side
>>> from operators.execution.dispatch import register_dispatcher
>>> sent = []; register_dispatcher("doc", sent.append)
>>> router = LiveRouter(LiveConfig(venue="doc"), ExecutionConfig(), Instruments())
>>> router.on_bar(MarketBar("A/B", 0, 60_000_000_000, 100.0, 100.0, 100.0, 100.0, 1e6))
[]
>>> t = datetime(2022, 1, 1, tzinfo=UTC)
>>> order = Order(order_id="o1", intent_id="i1", asset="A/B", side=Side.BUY,
...               quantity=Decimal(1), created_at=t, updated_at=t)
>>> [e.status.value for e in router.submit(order, 60_000_000_000)], sent[0].order_id
(['new'], 'o1')
>>> report = VenueReport(venue="doc", kind=ReportKind.FILL, order_id="o1", trade_id="7",
...                      price=Decimal("100.1"), quantity=Decimal(1), fee=Decimal("0.1"), ts=t)
>>> [type(e).__name__ for e in router.on_report(report)], router.on_report(report)
(['Fill', 'Order'], [])
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from operators.execution.config import ExecutionConfig
from operators.execution.dispatch import dispatcher
from operators.execution.live_config import LiveConfig
from operators.execution.market_hours import session_refusal
from operators.execution.paper import PaperBroker, _update
from operators.execution.router import ExecutionEvent, ExecutionRouter, MarketBar
from operators.execution.smart_routing import VenueQuote, route
from operators.execution.trading_config import TradingConfig
from operators.portfolio.instruments import Instruments, to_decimal
from schemas.common import NS_PER_SECOND, Side, datetime_to_ns, ns_to_datetime
from schemas.market import BookTop
from schemas.trading import ExecAlgo, Fill, Liquidity, Order, OrderStatus, OrderType
from schemas.venue import (
    CommandKind,
    ExecutionComparison,
    IssueKind,
    ReconcileIssue,
    ReportKind,
    RouteDecision,
    VenueCommand,
    VenueReport,
)

ZERO = Decimal(0)
BPS = Decimal(10_000)
NS_PER_DAY = 86_400 * NS_PER_SECOND
_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})


@dataclass(slots=True)
class _Child:
    """One order at one venue: a whole order, a slice, or a venue's share of a slice."""

    venue: str
    quantity: Decimal
    done: bool = False
    cancel_sent: bool = False


@dataclass(slots=True)
class _LiveOrder:
    order: Order
    reduce_only: bool
    bars: int = 0
    notional: Decimal = ZERO
    fees: Decimal = ZERO
    trade_ids: set[str] = field(default_factory=set)
    cancel_sent: bool = False
    held: bool = False
    adopted: bool = False
    children: dict[str, _Child] = field(default_factory=dict)
    released: Decimal = ZERO
    paper_quantity: Decimal = ZERO
    paper_notional: Decimal = ZERO
    paper_fees: Decimal = ZERO
    compared: bool = False

    @property
    def sliced(self) -> bool:
        return self.order.algo is not ExecAlgo.IMMEDIATE

    @property
    def working_children(self) -> list[tuple[str, _Child]]:
        return [(cid, c) for cid, c in self.children.items() if not c.done]


class LiveRouter(ExecutionRouter):
    """Orders to venues through their dispatchers; reports back through :meth:`on_report`.

    Picklable: it holds venue names, never a connection.
    """

    def __init__(
        self, config: LiveConfig, execution: ExecutionConfig, instruments: Instruments
    ) -> None:
        self.config = config
        self.execution = execution
        self.instruments = instruments
        self.paper = PaperBroker(execution, instruments)
        self._orders: dict[str, _LiveOrder] = {}
        self._parents: dict[str, str] = {}  # child (client order) id -> order id
        self._records: list[Any] = []
        self._marks: dict[str, Decimal] = {}
        self._quotes: dict[tuple[str, str], BookTop] = {}
        self._day = -1
        self._day_notional = ZERO
        self._unknown: set[str] = set()
        self._routes = 0
        self._balance_start: dict[tuple[str, str], Decimal] = {}  # (venue, asset) -> total
        # (venue, asset) -> what the booked fills moved it by: base quantity, quote notional
        self._booked_moves: dict[tuple[str, str], Decimal] = {}
        self._balance_gaps: dict[tuple[str, str], Decimal] = {}

    # --- interface -------------------------------------------------------------------------

    def submit(
        self, order: Order, now_ns: int, *, reduce_only: bool = False
    ) -> list[ExecutionEvent]:
        mark = order.limit_price or self._marks.get(order.asset)
        if mark is None:
            return [_update(order, now_ns, status=OrderStatus.REJECTED, reason="no price yet")]
        notional = order.quantity * mark
        refusal = self._cap_refusal(notional, now_ns, reduce_only)
        if refusal is not None:
            return [_update(order, now_ns, status=OrderStatus.REJECTED, reason=refusal)]
        closed = session_refusal(now_ns, self.config.session_calendar)
        hold = closed is not None and self.config.outside_session == "hold"
        if closed is not None and (not hold or self.config.dry_run):
            return [_update(order, now_ns, status=OrderStatus.REJECTED, reason=closed)]
        paper_events = self.paper.submit(order, now_ns, reduce_only=reduce_only)
        if self.config.dry_run:
            self._records.append(
                self._command(
                    CommandKind.PLACE,
                    order,
                    order.order_id,
                    self.config.venue,
                    order.quantity,
                    notional,
                    now_ns,
                )
            )
            self._day_notional += notional
            return paper_events
        known = self._orders.get(order.order_id)
        if known is not None:  # adopted after a restart, then decided again: never resent
            if known.adopted:
                return [known.order]
            return [_update(order, now_ns, status=OrderStatus.REJECTED, reason="duplicate id")]
        missing = [v for v in self._venue_names() if dispatcher(v) is None]
        if missing:
            reason = f"no connection to venue {', '.join(missing)}"
            return [_update(order, now_ns, status=OrderStatus.REJECTED, reason=reason)]
        live = _LiveOrder(order, reduce_only, held=hold)
        self._orders[order.order_id] = live
        self._day_notional += notional
        if hold:
            live.order = _update(order, now_ns, reason=f"held: {closed}")
            return [live.order]
        if not live.sliced:
            self._release(live, order.quantity, now_ns)
        return [order]

    def cancel(self, order_id: str, now_ns: int, reason: str) -> list[ExecutionEvent]:
        if self.config.dry_run:
            return self.paper.cancel(order_id, now_ns, reason)
        self.paper.cancel(order_id, now_ns, reason)
        live = self._orders.get(order_id)
        if live is None or live.order.status in _TERMINAL:
            return []
        live.cancel_sent = True
        for child_id, child in live.working_children:
            send = dispatcher(child.venue)
            if send is not None and not child.cancel_sent:
                child.cancel_sent = True
                command = self._command(
                    CommandKind.CANCEL,
                    live.order,
                    child_id,
                    child.venue,
                    child.quantity,
                    ZERO,
                    now_ns,
                    reason,
                )
                self._records.append(command)
                send(command)
        if not live.working_children:  # nothing at a venue (a sliced order between slices)
            live.order = _update(live.order, now_ns, status=OrderStatus.CANCELLED, reason=reason)
        else:
            live.order = _update(live.order, now_ns, reason=f"cancel sent: {reason}")
        return [live.order]

    def on_quote(self, quote: BookTop) -> None:
        self.paper.on_quote(quote)
        self._marks[quote.symbol] = to_decimal((quote.bid + quote.ask) / 2)
        self._quotes[(quote.source, quote.symbol)] = quote

    def on_bar(self, bar: MarketBar) -> list[ExecutionEvent]:
        self._marks[bar.asset] = to_decimal(bar.close)
        paper = self.paper.on_bar(bar)
        if self.config.dry_run:
            return paper
        for event in paper:
            live = self._orders.get(event.order_id)
            if isinstance(event, Fill) and live is not None:
                live.paper_quantity += event.quantity
                live.paper_notional += event.price * event.quantity
                live.paper_fees += event.fee
        events: list[ExecutionEvent] = []
        for live in list(self._orders.values()):
            if live.order.asset != bar.asset or live.order.status in _TERMINAL:
                continue
            if bar.open_ns < datetime_to_ns(live.order.created_at):
                continue  # a bar that opened before the order existed
            if live.held:
                if session_refusal(bar.close_ns, self.config.session_calendar) is not None:
                    continue
                live.held = False  # the session opened: the order goes out now
                live.order = _update(live.order, bar.close_ns, reason="released at the open")
                events.append(live.order)
                if not live.sliced:
                    self._release(live, live.order.quantity, bar.close_ns)
                    continue
            live.bars += 1
            if live.sliced and not live.cancel_sent:
                self._release(live, self._slice(live, bar), bar.close_ns)
            if live.bars >= self.execution.order_timeout_bars and not live.cancel_sent:
                events.extend(self.cancel(live.order.order_id, bar.close_ns, "timed out"))
        self._compare(bar.close_ns)
        return events

    def working_orders(self) -> list[Order]:
        if self.config.dry_run:
            return self.paper.working_orders()
        return [w.order for w in self._orders.values() if w.order.status not in _TERMINAL]

    def records(self) -> list[Any]:
        out, self._records = self._records, []
        return out

    def known_order_ids(self) -> set[str]:
        return set(self._orders)

    # --- routing and slicing ---------------------------------------------------------------

    def _venue_names(self) -> list[str]:
        return [v.name for v in self.config.venues] or [self.config.venue]

    def _slice(self, live: _LiveOrder, bar: MarketBar) -> Decimal:
        """This bar's slice: TWAP's cumulative target or POV's share of the bar's volume."""
        order, cfg = live.order, self.execution
        left = order.quantity - live.released
        if order.algo is ExecAlgo.TWAP:
            target = order.quantity * min(live.bars, cfg.twap_slices) / cfg.twap_slices
            wanted = target - live.released
        else:
            wanted = Decimal(repr(cfg.pov_rate_pct / 100 * max(bar.volume, 0.0)))
        return self.instruments.spec(order.asset).round_quantity(max(min(wanted, left), ZERO))

    def _release(self, live: _LiveOrder, quantity: Decimal, now_ns: int) -> None:
        """Send ``quantity`` of ``live``: routed over the venues, one child per venue."""
        if quantity <= 0:
            return
        order = live.order
        names = self._venue_names()
        if len(names) == 1:
            allocations = {names[0]: quantity}
        else:
            plan = route(
                order.side.value,
                quantity,
                self._venue_quotes(order.asset, now_ns),
                latency_bps_per_ms=self.config.latency_bps_per_ms,
                fallback=names[0],
            )
            allocations = plan.allocations
            self._routes += 1
            self._records.append(
                RouteDecision(
                    decision_id=f"route-{order.order_id}-{self._routes}",
                    order_id=order.order_id,
                    asset=order.asset,
                    side=order.side,
                    quantity=quantity,
                    allocations=allocations,
                    inputs=plan.inputs,
                    reason=plan.reason,
                    ts=ns_to_datetime(now_ns),
                )
            )
        live.released += quantity
        for venue, share in allocations.items():
            child_id = self._child_id(live, venue, len(allocations))
            live.children[child_id] = _Child(venue, share)
            self._parents[child_id] = order.order_id
            command = self._command(
                CommandKind.PLACE,
                order,
                child_id,
                venue,
                share,
                share * self._mark(order),
                now_ns,
            )
            self._records.append(command)
            send = dispatcher(venue)
            assert send is not None  # checked at submission
            send(command)

    def _child_id(self, live: _LiveOrder, venue: str, parts: int) -> str:
        """The client order id: the order id for a whole order at one venue; else a short
        deterministic id (a replayed slice gets the same one, so the venue dedupes it)."""
        order_id = live.order.order_id
        if not live.sliced and parts == 1 and not live.children:
            if len(order_id) <= self.config.max_client_order_id:
                return order_id
            key = order_id  # too long for the venue: its digest, the same on every resend
        else:
            key = f"{order_id}|{len(live.children)}|{venue}"
        return "q" + hashlib.blake2b(key.encode(), digest_size=12).hexdigest()

    def _mark(self, order: Order) -> Decimal:
        return order.limit_price or self._marks.get(order.asset) or ZERO

    def _venue_quotes(self, asset: str, now_ns: int) -> dict[str, VenueQuote]:
        max_age = self.execution.quote_max_age_seconds * NS_PER_SECOND
        quotes = {}
        for spec in self.config.venues:
            quote = self._quotes.get((spec.name, asset))
            if quote is None or not 0 <= now_ns - datetime_to_ns(quote.ts) <= max_age:
                continue
            quotes[spec.name] = VenueQuote(
                spec.name,
                to_decimal(quote.bid),
                to_decimal(quote.bid_size),
                to_decimal(quote.ask),
                to_decimal(quote.ask_size),
                spec.fee_bps,
                spec.latency_ms,
            )
        return quotes

    # --- venue reports ---------------------------------------------------------------------

    def on_report(self, report: VenueReport) -> list[ExecutionEvent]:
        """A venue report → fills and order updates (duplicates yield nothing)."""
        now_ns = _ns(report)
        if report.kind is ReportKind.BALANCES:
            self._check_balances(report)
            return []
        parent = self._parents.get(report.order_id)
        live = self._orders.get(parent) if parent is not None else None
        events: list[ExecutionEvent] = []
        if live is None:
            live = self._adopt(report, now_ns)
            if live is None:
                self._unknown_order(report, now_ns)
                return []
            events.append(live.order)
        child = live.children[report.order_id]
        if report.kind is ReportKind.FILL:
            events += self._fill(live, report, now_ns)
        elif report.kind is ReportKind.REJECT:
            child.done = True
            events += self._finish(
                live, OrderStatus.REJECTED, f"venue rejected: {report.reason}", now_ns, stop=True
            )
        elif report.kind is ReportKind.STATUS and report.status in _TERMINAL:
            child.done = True
            if report.status is not OrderStatus.FILLED and (live.cancel_sent or not live.sliced):
                reason = report.reason or f"{report.status.value} at the venue"
                events += self._finish(live, report.status, reason, now_ns, stop=False)
        self._compare(now_ns)
        return events

    def _finish(
        self, live: _LiveOrder, status: OrderStatus, reason: str, now_ns: int, *, stop: bool
    ) -> list[ExecutionEvent]:
        """End ``live`` once no child works at a venue (``stop``: no further slices either)."""
        if stop:
            live.cancel_sent = True
        if live.order.status in _TERMINAL or live.working_children:
            return []
        if live.sliced and not live.cancel_sent and live.released < live.order.quantity:
            return []
        if status is OrderStatus.REJECTED and live.order.filled_quantity > 0:
            status = OrderStatus.CANCELLED
        live.order = _update(live.order, now_ns, status=status, reason=reason)
        return [live.order]

    def _issue(
        self,
        report: VenueReport,
        kind: IssueKind,
        detail: str,
        action: str = "reported",
        order_id: str | None = None,
    ) -> None:
        self._records.append(
            ReconcileIssue(
                venue=report.venue,
                kind=kind,
                detail=detail,
                action=action,
                order_id=order_id,
                ts=report.ts,
            )
        )

    def _check_balances(self, report: VenueReport) -> None:
        """A venue's balances against the fills booked there since its first snapshot: every
        base asset traded, and the quote assets (notional and fees paid in them).

        A difference means a fill the ledger has not booked (or one it booked that the venue
        does not have): reported once per distinct difference, never corrected silently.
        """
        totals = {(report.venue, a): v for a, v in (report.balances or {}).items()}
        if not any(venue == report.venue for venue, _ in self._balance_start):
            self._balance_start.update(totals)
            return
        for key, booked in sorted(self._booked_moves.items()):
            if key not in totals or key not in self._balance_start:
                continue
            moved = totals[key] - self._balance_start[key]
            gap = moved - booked
            if gap != 0 and self._balance_gaps.get(key) != gap:
                self._balance_gaps[key] = gap
                self._issue(
                    report,
                    IssueKind.BALANCE,
                    f"{key[1]} at the venue moved {moved} since the first snapshot; "
                    f"the ledger booked {booked} (difference {gap})",
                )
            elif gap == 0:
                self._balance_gaps.pop(key, None)

    def _adopt(self, report: VenueReport, now_ns: int) -> _LiveOrder | None:
        """An order this deployment sent (the gateway's journal says so) that the router lost
        to a crash between send and acknowledgement: taken back as a whole order at its venue,
        so its fills are booked once; audited. Anything else stays unknown."""
        if not (report.journaled and report.kind is ReportKind.STATUS):
            return None
        if report.side is None or report.order_quantity is None or not report.asset:
            return None
        ts = ns_to_datetime(now_ns)
        order = Order(
            order_id=report.order_id,
            intent_id=report.order_id,
            asset=report.asset,
            side=report.side,
            quantity=report.order_quantity,
            reason="adopted after a restart: sent before the crash, found at the venue",
            created_at=ts,
            updated_at=ts,
        )
        live = _LiveOrder(
            order, reduce_only=False, released=order.quantity, compared=True, adopted=True
        )
        live.children[order.order_id] = _Child(report.venue, order.quantity)
        self._orders[order.order_id] = live
        self._parents[order.order_id] = order.order_id
        self._issue(
            report,
            IssueKind.MISSING_ORDER,
            f"venue order {report.venue_order_id or '?'} ({order.order_id}, {order.asset}, "
            f"{order.side.value} {order.quantity}) was sent before a restart and lost by the "
            "router",
            "adopted",
            order.order_id,
        )
        return live

    def _unknown_order(self, report: VenueReport, now_ns: int) -> None:
        """A venue order the ledger does not know: reported once, cancelled if configured."""
        if report.order_id in self._unknown:
            return
        self._unknown.add(report.order_id)
        working = report.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
        action = "reported"
        send = dispatcher(self.config.venue)
        if working and self.config.cancel_unknown_orders and report.asset and send is not None:
            action = "cancelled"
            command = VenueCommand(
                command_id=f"{report.order_id}:cancel",
                kind=CommandKind.CANCEL,
                venue=self.config.venue,
                order_id=report.order_id,
                asset=report.asset,
                notional=ZERO,
                reason="unknown to the ledger (reconciliation)",
                ts=ns_to_datetime(now_ns),
            )
            self._records.append(command)
            send(command)
        state = report.status.value if report.status else report.kind.value
        self._issue(
            report,
            IssueKind.UNKNOWN_ORDER,
            f"venue order {report.venue_order_id or '?'} ({report.order_id}, "
            f"{report.asset or '?'}, {state}) is not in the ledger",
            action,
            report.order_id,
        )

    def _fill(self, live: _LiveOrder, report: VenueReport, now_ns: int) -> list[ExecutionEvent]:
        trade_id = f"{report.venue}:{report.trade_id}" if report.trade_id else ""
        if not trade_id or trade_id in live.trade_ids:
            return []
        assert report.price is not None and report.quantity is not None
        order = live.order
        if order.filled_quantity + report.quantity > order.quantity:
            self._issue(
                report,
                IssueKind.MISSED_FILL,
                f"fill {trade_id} of {report.quantity} would overfill {order.order_id} "
                f"({order.filled_quantity} of {order.quantity} filled): not booked",
                order_id=order.order_id,
            )
            return []
        live.trade_ids.add(trade_id)
        mid = self._marks.get(order.asset)
        sign = 1 if order.side is Side.BUY else -1
        fill = Fill(
            fill_id=trade_id,
            order_id=order.order_id,
            asset=order.asset,
            side=order.side,
            quantity=report.quantity,
            price=report.price,
            fee=report.fee,
            liquidity=report.liquidity or Liquidity.TAKER,
            mid_price=mid,
            slippage_bps=float((report.price - mid) / mid * BPS) * sign if mid else 0.0,
            ts=report.ts,
        )
        live.notional += report.price * report.quantity
        live.fees += report.fee
        self._book_balances(report, order.asset, order.side)
        filled = order.filled_quantity + report.quantity
        status = order.status
        if status not in _TERMINAL or status is OrderStatus.FILLED:
            status = (
                OrderStatus.FILLED if filled == order.quantity else OrderStatus.PARTIALLY_FILLED
            )
        live.order = _update(
            order,
            now_ns,
            status=status,
            filled_quantity=filled,
            average_price=live.notional / filled,
        )
        return [fill, live.order]

    # --- internals -------------------------------------------------------------------------

    def _book_balances(self, report: VenueReport, asset: str, side: Side) -> None:
        """What a booked fill moves at its venue: the base asset, and the quote asset by the
        notional and the fee (when the fee was paid in it)."""
        assert report.price is not None and report.quantity is not None
        base, _, quote = asset.partition("/")
        quote = quote or self.config.cash_currency
        buy = side is Side.BUY
        notional = report.price * report.quantity
        fee = report.fee if report.fee_currency in (None, quote) else ZERO
        moves = {
            base: report.quantity if buy else -report.quantity,
            quote: -(notional + fee) if buy else notional - fee,
        }
        for name, moved in moves.items():
            key = (report.venue, name)
            self._booked_moves[key] = self._booked_moves.get(key, ZERO) + moved

    def _cap_refusal(self, notional: Decimal, now_ns: int, reduce_only: bool) -> str | None:
        day = now_ns // NS_PER_DAY
        if day != self._day:
            self._day, self._day_notional = day, ZERO
        if reduce_only:
            return None
        cfg = self.config
        if notional > cfg.max_order_notional:
            return f"order notional {notional:.2f} above the per-order cap {cfg.max_order_notional}"
        if self._day_notional + notional > cfg.max_daily_notional:
            return (
                f"daily notional cap {cfg.max_daily_notional}: {self._day_notional:.2f} sent "
                f"today, this order {notional:.2f}"
            )
        return None

    def _command(
        self,
        kind: CommandKind,
        order: Order,
        client_id: str,
        venue: str,
        quantity: Decimal,
        notional: Decimal,
        now_ns: int,
        reason: str = "",
    ) -> VenueCommand:
        limit = order.order_type is OrderType.LIMIT
        return VenueCommand(
            command_id=f"{client_id}:{kind.value}",
            kind=kind,
            venue=venue,
            order_id=client_id,
            asset=order.asset,
            side=order.side,
            quantity=quantity,
            order_type=order.order_type,
            limit_price=order.limit_price,
            time_in_force="GTC" if limit else None,
            notional=notional,
            dry_run=self.config.dry_run,
            reason=reason or order.reason,
            ts=ns_to_datetime(now_ns),
        )

    def _compare(self, now_ns: int) -> None:
        if not self.config.compare_with_paper:
            return
        working = {o.order_id for o in self.paper.working_orders()}
        for live in self._orders.values():
            order = live.order
            if live.compared or order.status not in _TERMINAL or order.order_id in working:
                continue
            if order.filled_quantity == 0 and live.paper_quantity == 0:
                live.compared = True
                continue
            live.compared = True
            venue_avg = live.notional / order.filled_quantity if order.filled_quantity else None
            paper_avg = live.paper_notional / live.paper_quantity if live.paper_quantity else None
            difference = None
            if venue_avg is not None and paper_avg is not None:
                sign = 1 if order.side is Side.BUY else -1
                difference = float((venue_avg - paper_avg) / paper_avg * BPS) * sign
            self._records.append(
                ExecutionComparison(
                    order_id=order.order_id,
                    asset=order.asset,
                    side=order.side,
                    venue_quantity=order.filled_quantity,
                    venue_average_price=venue_avg,
                    venue_fees=live.fees,
                    paper_quantity=live.paper_quantity,
                    paper_average_price=paper_avg,
                    paper_fees=live.paper_fees,
                    difference_bps=difference,
                    ts=ns_to_datetime(now_ns),
                )
            )


def _ns(report: VenueReport) -> int:
    return datetime_to_ns(report.ts)


def router_for(config: TradingConfig) -> ExecutionRouter:
    """The router ``trading.mode`` asks for: the paper broker, or the live router."""
    instruments = config.portfolio.instruments
    if config.mode == "live":
        return LiveRouter(config.live, config.execution, instruments)
    return PaperBroker(config.execution, instruments)
