"""Push delivery of the entitled feed: each customer's Kafka topic and webhook, once due.

``deliver(engine, channel, sender, now)`` walks the stored fused signals in stream order from
each customer's cursor (``billing_push_cursors``) and asks :func:`operators.billing.delivery.
next_push` about each: deliver it (as the plan shows it), pass over it (not entitled, or the
plan has no such channel), or stop (not due yet: the plan's delay holds it and what follows).
A batch is sent, then its usage events and the new cursor are written in one transaction:

* a crash between sending and recording sends the batch again (at-least-once; Kafka consumers
  and webhook receivers dedupe on the envelope / body ``id``), and meters it once — the usage
  event is the flow's own (same ``usage_id`` = hash of customer and signal, insert-or-ignore);
* a failed send records only what went through before it; the rest is retried next pass.

Billing is on *availability*: the flow's metering sink bills every signal a customer's plan
makes available to them, once, whatever the channels and however often the feed is pulled;
the push channels deliver exactly that set and meter through the same key, so a signal pushed
on two channels and pulled from the API is still one usage event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.engine import Engine

from api.cursor import Cursor
from api.reads.signals import FusedFilter, fused_after
from connectors.billing_push.errors import PushError
from connectors.store.billing import read_push_cursor, read_subscriptions, record_pushes
from flows.billing import stored_catalogue
from operators.billing.delivery import HOLD, Push, next_push, pushes_channel
from operators.billing.metering import Roster
from schemas.billing import Channel
from schemas.signals import FusedSignal


class PushChannel(Protocol):
    def reaches(self, customer: str) -> bool: ...

    def send(self, customer: str, pushes: Sequence[Push]) -> None: ...

    def close(self) -> None: ...


@dataclass
class CustomerDelivery:
    customer: str
    delivered: int = 0
    held: bool = False
    error: str | None = None


@dataclass
class DeliveryReport:
    channel: Channel
    customers: list[CustomerDelivery] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return sum(c.delivered for c in self.customers)

    @property
    def errors(self) -> list[str]:
        return [c.error for c in self.customers if c.error]


def _plain(item: FusedSignal) -> FusedSignal:
    return FusedSignal.model_validate(item.model_dump(exclude={"cursor"}))


def _deliver_customer(
    engine: Engine,
    roster: Roster,
    customer: str,
    channel: Channel,
    sender: PushChannel,
    now: datetime,
    batch: int,
) -> CustomerDelivery:
    out = CustomerDelivery(customer)
    position = Cursor(*read_push_cursor(engine, customer, channel.value))
    while True:
        with engine.connect() as conn:
            page = fused_after(conn, FusedFilter(), position, limit=batch)
        pushes: list[tuple[Push, Cursor]] = []
        reached = position
        for item in page.items:
            decision = next_push(_plain(item), roster, customer, channel, now)
            if decision is HOLD:
                out.held = True
                break
            reached = Cursor.decode(item.cursor)
            if isinstance(decision, Push):
                pushes.append((decision, reached))
        sent = len(pushes)
        try:
            if pushes:
                sender.send(customer, [p for p, _ in pushes])
        except PushError as exc:
            sent, out.error = exc.delivered, str(exc)
            reached = pushes[sent - 1][1] if sent else position
        record_pushes(
            engine,
            customer,
            channel.value,
            [p.usage for p, _ in pushes[:sent]],
            (reached.ts_ns, reached.id),
        )
        out.delivered += sent
        if out.error or out.held or page.caught_up:
            return out
        position = reached


def deliver(
    engine: Engine, channel: Channel, sender: PushChannel, now: datetime, *, batch: int = 200
) -> DeliveryReport:
    """One pass of ``channel`` for every customer whose plans include it (see the module)."""
    if channel not in (Channel.KAFKA, Channel.WEBHOOK):
        raise ValueError(f"{channel.value!r} is not a push channel (kafka, webhook)")
    roster = Roster(stored_catalogue(engine), read_subscriptions(engine))
    report = DeliveryReport(channel)
    for customer in sorted(roster.by_customer):
        if pushes_channel(roster, customer, channel) and sender.reaches(customer):
            report.customers.append(
                _deliver_customer(engine, roster, customer, channel, sender, now, batch)
            )
    return report
