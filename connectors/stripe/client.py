"""Quorum's calls to Stripe, through the official SDK, each POST with an idempotency key.

Keys are derived from what the call means (``quorum:customer:<id>``, ``quorum:invoice:<id>``),
never random: a close or a sync that is run again sends the same keys and Stripe replays its
first answer instead of creating a second customer or invoice. Meter events carry the usage id
as their ``identifier``, which Stripe de-duplicates as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import stripe

from connectors.stripe.config import StripeConfig
from operators.billing.catalogue import Catalogue, Plan
from schemas.billing import Charge, Invoice, UsageEvent
from schemas.common import datetime_to_ns

KEY_PREFIX = "quorum"


def idempotency_key(*parts: object) -> str:
    """``idempotency_key("customer", "ana")`` → ``'quorum:customer:ana'``."""
    return ":".join([KEY_PREFIX, *(str(p) for p in parts)])


@dataclass(frozen=True)
class PlanPrices:
    """Stripe ids of one plan: its product, its period price and its per-signal price."""

    product: str
    period_price: str | None
    signal_price: str | None


class StripeBilling:
    """A thin wrapper over :class:`stripe.StripeClient` speaking Quorum's records."""

    def __init__(self, config: StripeConfig) -> None:
        self.config = config
        self.client = stripe.StripeClient(
            config.api_key.get_secret_value(),
            base_addresses={"api": config.api_base},
            max_network_retries=config.max_network_retries,
        )

    def _options(self, *key: object) -> dict[str, Any]:
        return {"idempotency_key": idempotency_key(*key)}

    # --- catalogue -----------------------------------------------------------------------------

    def ensure_meter(self, catalogue: Catalogue) -> str:
        meter = self.client.v1.billing.meters.create(
            {
                "display_name": "Quorum signals delivered",
                "event_name": self.config.meter_event_name,
                "default_aggregation": {"formula": "sum"},
                "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
                "value_settings": {"event_payload_key": "value"},
            },
            self._options("meter", self.config.meter_event_name),
        )
        return meter.id

    def ensure_plan(self, catalogue: Catalogue, plan: Plan, meter_id: str) -> PlanPrices:
        """Product and prices of ``plan`` for this catalogue version (created once)."""
        version = catalogue.version
        product = self.client.v1.products.create(
            {"name": plan.name, "metadata": {"plan_id": plan.plan_id, "catalogue": str(version)}},
            self._options("product", plan.plan_id, version),
        )
        period = None
        if plan.price_minor:
            period = self.client.v1.prices.create(
                {
                    "product": product.id,
                    "currency": catalogue.currency,
                    "unit_amount": plan.price_minor,
                    "recurring": {"interval": plan.interval},
                    "metadata": {"plan_id": plan.plan_id, "kind": "period"},
                },
                self._options("price", plan.plan_id, version, "period"),
            ).id
        per_signal = None
        if plan.price_per_signal_minor:
            per_signal = self.client.v1.prices.create(
                {
                    "product": product.id,
                    "currency": catalogue.currency,
                    "unit_amount": plan.price_per_signal_minor,
                    "recurring": {
                        "interval": plan.interval,
                        "usage_type": "metered",
                        "meter": meter_id,
                    },
                    "metadata": {"plan_id": plan.plan_id, "kind": "per_signal"},
                },
                self._options("price", plan.plan_id, version, "signal"),
            ).id
        return PlanPrices(product.id, period, per_signal)

    # --- customers and subscriptions -----------------------------------------------------------

    def create_customer(self, customer_id: str, name: str, email: str) -> str:
        customer = self.client.v1.customers.create(
            {"name": name, "email": email, "metadata": {"quorum_customer_id": customer_id}},
            self._options("customer", customer_id),
        )
        return customer.id

    def create_subscription(
        self, subscription_id: str, stripe_customer: str, prices: PlanPrices, trial_days: int
    ) -> Any:
        items = [{"price": p} for p in (prices.period_price, prices.signal_price) if p]
        params: dict[str, Any] = {
            "customer": stripe_customer,
            "items": items,
            "metadata": {"quorum_subscription_id": subscription_id},
        }
        if trial_days:
            params["trial_period_days"] = trial_days
        return self.client.v1.subscriptions.create(
            params, self._options("subscription", subscription_id)
        )

    def portal_link(self, stripe_customer: str, session_key: str) -> str:
        session = self.client.v1.billing_portal.sessions.create(
            {"customer": stripe_customer, "return_url": self.config.portal_return_url},
            self._options("portal", stripe_customer, session_key),
        )
        return session.url

    # --- usage and invoices --------------------------------------------------------------------

    def report_usage(self, events: Iterable[UsageEvent], stripe_customer: dict[str, str]) -> int:
        """One meter event per priced delivery (identifier = usage id); returns events sent."""
        sent = 0
        for event in events:
            if event.price_minor == 0 or event.customer_id not in stripe_customer:
                continue
            try:
                self.client.v1.billing.meter_events.create(
                    {
                        "event_name": self.config.meter_event_name,
                        "identifier": event.usage_id,
                        "timestamp": datetime_to_ns(event.delivered_at) // 1_000_000_000,
                        "payload": {
                            "stripe_customer_id": stripe_customer[event.customer_id],
                            "value": "1",
                        },
                    },
                    self._options("meter_event", event.usage_id),
                )
            except stripe.InvalidRequestError as exc:
                if exc.param != "identifier":  # already reported: Stripe has it once
                    raise
            sent += 1
        return sent

    def create_invoice(self, invoice: Invoice, stripe_customer: str) -> Any:
        """Invoice items for every line, then the invoice, finalized (each call idempotent)."""
        for n, line in enumerate(invoice.lines):
            if not line.amount_minor:
                continue
            self.client.v1.invoice_items.create(
                {
                    "customer": stripe_customer,
                    "amount": line.amount_minor,
                    "currency": invoice.currency,
                    "description": line.description,
                    "metadata": {"quorum_invoice_id": invoice.invoice_id},
                },
                self._options("invoice_item", invoice.invoice_id, n),
            )
        created = self.client.v1.invoices.create(
            {
                "customer": stripe_customer,
                "currency": invoice.currency,
                "auto_advance": False,
                "pending_invoice_items_behavior": "include",
                "metadata": {"quorum_invoice_id": invoice.invoice_id, "month": invoice.month},
            },
            self._options("invoice", invoice.invoice_id),
        )
        return self.client.v1.invoices.finalize_invoice(
            created.id, {}, self._options("finalize", invoice.invoice_id)
        )

    def invoices(self) -> list[Any]:
        """Every invoice Stripe holds for this account (auto-paginated)."""
        return list(self.client.v1.invoices.list({"limit": 100}).auto_paging_iter())

    def cycle_charges(self, stripe_subscription: str, start: int, end: int) -> list[Charge]:
        """Lines Stripe's cycle billed for a subscription whose period starts in ``[start, end)``.

        Read from the subscription's finalized invoices (drafts and voided ones are left out):
        the plan's fee (billed at the start of its period) and the metered signals (billed at
        its end) of a calendar-month period both start in that month.
        """
        found = self.client.v1.invoices.list({"subscription": stripe_subscription, "limit": 100})
        charges = []
        for invoice in found.auto_paging_iter():
            if invoice.status in ("draft", "void"):
                continue
            data = invoice.to_dict()
            if data["lines"].get("has_more"):
                raise ValueError(f"Stripe invoice {invoice.id} has more lines than one page")
            for line in data["lines"]["data"]:
                if not start <= int(line["period"]["start"]) < end:
                    continue
                charges.append(_cycle_charge(invoice.id, line, data["currency"]))
        return charges

    def meter_id(self) -> str | None:
        """The id of the active Billing Meter of ``meter_event_name`` (``None``: not synced)."""
        meters = self.client.v1.billing.meters.list({"status": "active", "limit": 100})
        for meter in meters.auto_paging_iter():
            if meter.event_name == self.config.meter_event_name:
                return str(meter.id)
        return None

    def metered_signals(self, meter_id: str, stripe_customer: str, start: int, end: int) -> int:
        """Signals Stripe's meter holds for a customer in ``[start, end)`` (Unix seconds)."""
        summaries = self.client.v1.billing.meters.event_summaries.list(
            meter_id,
            {"customer": stripe_customer, "start_time": start, "end_time": end, "limit": 100},
        )
        return int(sum(s.aggregated_value for s in summaries.auto_paging_iter()))


def _cycle_charge(invoice_id: str, line: dict[str, Any], currency: str) -> Charge:
    amount = int(line["amount"])
    if amount < 0:
        raise ValueError(
            f"Stripe invoice {invoice_id} has a credit line of {amount} (a proration): the close "
            "books charges only; settle it in Stripe or by a reversal"
        )
    recurring = (line.get("price") or {}).get("recurring") or {}
    metered = recurring.get("usage_type") == "metered"
    quantity = int(line.get("quantity") or 1)
    if quantity == 0 or amount % quantity:
        quantity = 1
    return Charge(
        kind="stripe_usage" if metered else "stripe_subscription",
        description=f"{line.get('description') or 'Stripe subscription'} (Stripe {invoice_id})",
        quantity=quantity,
        unit_minor=amount // quantity,
        amount_minor=amount,
        currency=currency,
    )
