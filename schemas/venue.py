"""What crosses between the trading core and a venue: commands out, reports back, audits.

* :class:`VenueCommand` — place or cancel, keyed by the order's idempotency key (the order id,
  sent as the venue's ``clientOrderId``); ``dry_run`` commands were recorded, not sent.
* :class:`VenueReport` — what the venue said: an acknowledgement, a state change, a fill
  (with the venue's trade id, so a fill seen twice is booked once) or a refusal with the
  venue's reason. Reports enter the flow as items; the trading core never waits for one.
* :class:`ReconcileIssue` — a difference between the venue and the ledger found on start or
  after a reconnect, and what was done about it.
* :class:`RouteDecision` — how an order was split over venues, with the inputs that decided it.
* :class:`ExecutionComparison` — a venue fill next to the paper broker's estimate of it.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import Field

from schemas.common import Frozen, Side, UtcDatetime
from schemas.trading import Liquidity, OrderStatus, OrderType


class CommandKind(StrEnum):
    PLACE = "place"
    CANCEL = "cancel"


class VenueCommand(Frozen):
    command_id: str
    kind: CommandKind
    venue: str
    order_id: str = Field(description="The idempotency key, sent as clientOrderId")
    asset: str
    side: Side | None = Field(default=None, description="None for a cancel of an unknown order")
    quantity: Decimal = Field(default=Decimal(0), ge=0)
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: str | None = None
    notional: Decimal = Field(ge=0, description="Quantity × reference price (caps)")
    dry_run: bool = False
    reason: str = ""
    ts: UtcDatetime


class ReportKind(StrEnum):
    ACK = "ack"
    STATUS = "status"
    FILL = "fill"
    REJECT = "reject"
    BALANCES = "balances"


class VenueReport(Frozen):
    venue: str
    kind: ReportKind
    order_id: str = Field(description="Our order id (the venue's clientOrderId)")
    venue_order_id: str | None = None
    asset: str | None = None
    status: OrderStatus | None = None
    filled_quantity: Decimal | None = Field(default=None, ge=0)
    reason: str = ""
    trade_id: str | None = None
    price: Decimal | None = Field(default=None, gt=0)
    quantity: Decimal | None = Field(default=None, gt=0)
    fee: Decimal = Field(default=Decimal(0), ge=0, description="In quote currency")
    fee_currency: str | None = None
    liquidity: Liquidity | None = None
    balances: dict[str, Decimal] | None = Field(
        default=None, description="Asset → total at the venue (a balances report)"
    )
    source: str = Field(default="stream", description="stream, rest or reconcile")
    side: Side | None = Field(default=None, description="The venue order's side (status reports)")
    order_quantity: Decimal | None = Field(
        default=None, gt=0, description="The venue order's quantity (status reports)"
    )
    journaled: bool = Field(
        default=False,
        description=(
            "The order is in this deployment's send journal (sent before a crash): a router "
            "that lost it adopts it instead of reporting it unknown"
        ),
    )
    ts: UtcDatetime


class IssueKind(StrEnum):
    UNKNOWN_ORDER = "unknown_order"
    MISSED_FILL = "missed_fill"
    MISSING_ORDER = "missing_order"
    BALANCE = "balance"


class ReconcileIssue(Frozen):
    venue: str
    kind: IssueKind
    detail: str
    action: str = Field(description="What was done: reported, cancelled, booked")
    order_id: str | None = None
    ts: UtcDatetime


class RouteDecision(Frozen):
    decision_id: str
    order_id: str
    asset: str
    side: Side
    quantity: Decimal
    allocations: dict[str, Decimal] = Field(description="Venue → quantity routed there")
    inputs: dict[str, Any] = Field(description="Per venue: quote, fee, depth, latency, price")
    reason: str
    ts: UtcDatetime


class ExecutionComparison(Frozen):
    order_id: str
    asset: str
    side: Side
    venue_quantity: Decimal
    venue_average_price: Decimal | None
    venue_fees: Decimal
    paper_quantity: Decimal
    paper_average_price: Decimal | None
    paper_fees: Decimal
    difference_bps: float | None = Field(description="Venue vs paper price, signed cost")
    ts: UtcDatetime
