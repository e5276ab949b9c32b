"""A local Stripe-compatible HTTP server for the billing tests (127.0.0.1, test keys only).

Implements the endpoints Quorum's Stripe connector calls, with Stripe's documented request
encoding (form-encoded, bracketed nested keys) and response shapes (objects with ``id`` and
``object``, lists as ``{"object": "list", "data": [...], "has_more": false}``, errors as
``{"error": {"type", "message", "param"}}``). Idempotency follows Stripe: a repeated
``Idempotency-Key`` replays the first response; the same key with other parameters is a 400
``idempotency_error``. Every request is recorded so tests can check the keys.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_KEY = "sk_test_quorum"


def decode_form(body: str) -> dict[str, Any]:
    """``items[0][price]=p&m[k]=v`` → ``{"items": [{"price": "p"}], "m": {"k": "v"}}``."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = out
        for part, nxt in itertools.pairwise(parts):
            container = [] if nxt.isdigit() else {}
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                node[index] = node[index] if node[index] is not None else container
                node = node[index]
            else:
                node = node.setdefault(part, container)
        last = parts[-1]
        if isinstance(node, list):
            index = int(last)
            while len(node) <= index:
                node.append(None)
            node[index] = value
        else:
            node[last] = value
    return out


class FakeStripe:
    """The server's state: objects by id, idempotent responses, the request log."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.meter_events: dict[str, dict[str, Any]] = {}
        self.idempotent: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self._ids = itertools.count(1)
        self.lock = threading.Lock()

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):08d}"

    def create(self, prefix: str, obj: str, fields: dict[str, Any]) -> dict[str, Any]:
        record = {
            "id": self.new_id(prefix),
            "object": obj,
            "created": int(time.time()),
            "livemode": False,
            **fields,
        }
        self.objects[record["id"]] = record
        return record

    def of_type(self, obj: str) -> list[dict[str, Any]]:
        return [o for o in self.objects.values() if o["object"] == obj]

    def bill_cycle(self, subscription_id: str, start: int, end: int) -> dict[str, Any]:
        """What Stripe's cycle does at a period's end: a finalized invoice of the period's fee
        (licensed prices) and its metered usage (meter events of the customer in the period)."""
        with self.lock:
            sub = self.objects[subscription_id]
            lines = []
            for item in sub["items"]["data"]:
                price = item["price"]
                recurring = price.get("recurring") or {}
                quantity = 1
                if recurring.get("usage_type") == "metered":
                    event_name = self.objects[recurring["meter"]]["event_name"]
                    quantity = sum(
                        int(float(e["payload"].get("value", 0)))
                        for e in self.meter_events.values()
                        if e["event_name"] == event_name
                        and e["payload"].get("stripe_customer_id") == sub["customer"]
                        and start <= e["timestamp"] < end
                    )
                lines.append(
                    {
                        "id": self.new_id("il"),
                        "object": "line_item",
                        "amount": quantity * price["unit_amount"],
                        "currency": price["currency"],
                        "description": f"{quantity} × {price['product']}",
                        "quantity": quantity,
                        "period": {"start": start, "end": end},
                        "price": price,
                    }
                )
            total = sum(line["amount"] for line in lines)
            return self.create(
                "in",
                "invoice",
                {
                    "customer": sub["customer"],
                    "subscription": subscription_id,
                    "status": "open",
                    "currency": lines[0]["currency"] if lines else "usd",
                    "metadata": {},
                    "billing_reason": "subscription_cycle",
                    "subtotal": total,
                    "total": total,
                    "amount_due": total,
                    "amount_paid": 0,
                    "lines": {"object": "list", "has_more": False, "data": lines},
                },
            )


def _int(params: dict[str, Any], name: str) -> int:
    return int(params[name])


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:
        return

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_{int(time.time() * 1e6)}")
        self.end_headers()
        self.wfile.write(data)

    def _error(
        self,
        status: int,
        message: str,
        param: str | None = None,
        kind: str = "invalid_request_error",
    ) -> tuple[int, dict[str, Any]]:
        return status, {"error": {"type": kind, "message": message, "param": param}}

    def _authorized(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {API_KEY}"

    def do_GET(self) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        with fake.lock:
            fake.requests.append(("GET", url.path, None))
            if not self._authorized():
                self._send(
                    *self._error(401, "Invalid API Key provided", kind="invalid_request_error")
                )
                return
            query = decode_form(url.query)
            if url.path == "/v1/invoices":
                data = fake.of_type("invoice")
                for name in ("customer", "subscription"):
                    if name in query:
                        data = [i for i in data if i.get(name) == query[name]]
                self._send(
                    200, {"object": "list", "url": "/v1/invoices", "has_more": False, "data": data}
                )
                return
            if url.path == "/v1/billing/meters":
                data = fake.of_type("billing.meter")
                self._send(
                    200,
                    {"object": "list", "url": url.path, "has_more": False, "data": data},
                )
                return
            summary = re.fullmatch(r"/v1/billing/meters/(\w+)/event_summaries", url.path)
            if summary:
                meter = fake.objects.get(summary.group(1))
                if meter is None or "customer" not in query:
                    self._send(*self._error(400, "No such meter, or no customer", "customer"))
                    return
                start, end = int(query["start_time"]), int(query["end_time"])
                value = sum(
                    float(e["payload"].get("value", 0))
                    for e in fake.meter_events.values()
                    if e["event_name"] == meter["event_name"]
                    and e["payload"].get("stripe_customer_id") == query["customer"]
                    and start <= e["timestamp"] < end
                )
                item = {
                    "id": f"mtrusg_{meter['id']}_{start}",
                    "object": "billing.meter_event_summary",
                    "aggregated_value": value,
                    "start_time": start,
                    "end_time": end,
                    "meter": meter["id"],
                    "livemode": False,
                }
                self._send(
                    200, {"object": "list", "url": url.path, "has_more": False, "data": [item]}
                )
                return
            match = re.fullmatch(r"/v1/(customers|subscriptions|invoices)/([\w]+)", url.path)
            if match and match.group(2) in fake.objects:
                self._send(200, fake.objects[match.group(2)])
                return
        self._send(*self._error(404, f"No such resource: {url.path}"))

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        key = self.headers.get("Idempotency-Key")
        with fake.lock:
            fake.requests.append(("POST", self.path, key))
            if not self._authorized():
                self._send(*self._error(401, "Invalid API Key provided"))
                return
            if key is not None and key in fake.idempotent:
                first_body, status, response = fake.idempotent[key]
                if first_body != body:
                    self._send(
                        *self._error(
                            400,
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                            kind="idempotency_error",
                        )
                    )
                    return
                self._send(status, response)
                return
            status, response = self._route(fake, self.path, decode_form(body))
            if key is not None and status < 500:
                fake.idempotent[key] = (body, status, response)
        self._send(status, response)

    def _route(self, fake: FakeStripe, path: str, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path == "/v1/customers":
            return 200, fake.create(
                "cus",
                "customer",
                {"name": p.get("name"), "email": p.get("email"), "metadata": p.get("metadata", {})},
            )
        if path == "/v1/products":
            return 200, fake.create(
                "prod",
                "product",
                {"name": p["name"], "active": True, "metadata": p.get("metadata", {})},
            )
        if path == "/v1/billing/meters":
            return 200, fake.create(
                "mtr",
                "billing.meter",
                {
                    "display_name": p["display_name"],
                    "event_name": p["event_name"],
                    "default_aggregation": p.get("default_aggregation", {}),
                    "customer_mapping": {
                        "event_payload_key": "stripe_customer_id",
                        "type": "by_id",
                    },
                    "status": "active",
                },
            )
        if path == "/v1/prices":
            if p.get("product") not in fake.objects:
                return self._error(400, f"No such product: '{p.get('product')}'", "product")
            recurring = p.get("recurring") or None
            metered = recurring and recurring.get("usage_type") == "metered"
            if metered and recurring.get("meter") not in fake.objects:
                return self._error(400, "No such meter", "recurring[meter]")
            return 200, fake.create(
                "price",
                "price",
                {
                    "product": p["product"],
                    "currency": p["currency"],
                    "unit_amount": _int(p, "unit_amount"),
                    "recurring": recurring,
                    "type": "recurring" if recurring else "one_time",
                    "active": True,
                    "metadata": p.get("metadata", {}),
                },
            )
        if path == "/v1/subscriptions":
            customer = p.get("customer")
            if customer not in fake.objects:
                return self._error(400, f"No such customer: '{customer}'", "customer")
            trial_days = int(p.get("trial_period_days") or 0)
            now = int(time.time())
            items = [
                {
                    "id": fake.new_id("si"),
                    "object": "subscription_item",
                    "price": fake.objects[i["price"]],
                }
                for i in p.get("items", [])
            ]
            return 200, fake.create(
                "sub",
                "subscription",
                {
                    "customer": customer,
                    "status": "trialing" if trial_days else "active",
                    "trial_end": now + trial_days * 86400 if trial_days else None,
                    "items": {"object": "list", "data": items, "has_more": False},
                    "metadata": p.get("metadata", {}),
                    "cancel_at_period_end": False,
                },
            )
        if path == "/v1/billing/meter_events":
            identifier = p.get("identifier")
            if identifier in fake.meter_events:
                return self._error(
                    400, f"An event already exists with identifier {identifier}.", "identifier"
                )
            event = {
                "object": "billing.meter_event",
                "event_name": p["event_name"],
                "identifier": identifier,
                "payload": p["payload"],
                "timestamp": int(p.get("timestamp") or time.time()),
                "created": int(time.time()),
                "livemode": False,
            }
            fake.meter_events[identifier] = event
            return 200, event
        if path == "/v1/invoiceitems":
            return 200, fake.create(
                "ii",
                "invoiceitem",
                {
                    "customer": p["customer"],
                    "amount": _int(p, "amount"),
                    "currency": p["currency"],
                    "description": p.get("description"),
                    "invoice": None,
                    "metadata": p.get("metadata", {}),
                },
            )
        if path == "/v1/invoices":
            invoice = fake.create(
                "in",
                "invoice",
                {
                    "customer": p["customer"],
                    "status": "draft",
                    "currency": p.get("currency", "usd"),
                    "metadata": p.get("metadata", {}),
                    "auto_advance": p.get("auto_advance") == "true",
                    "collection_method": p.get("collection_method", "charge_automatically"),
                },
            )
            pending = [
                i
                for i in fake.of_type("invoiceitem")
                if i["customer"] == p["customer"] and i["invoice"] is None
            ]
            for item in pending:
                item["invoice"] = invoice["id"]
            total = sum(i["amount"] for i in pending)
            invoice.update(
                subtotal=total,
                total=total,
                amount_due=total,
                amount_paid=0,
                lines={
                    "object": "list",
                    "has_more": False,
                    "data": [
                        {
                            "id": i["id"],
                            "object": "line_item",
                            "amount": i["amount"],
                            "description": i["description"],
                        }
                        for i in pending
                    ],
                },
            )
            return 200, invoice
        match = re.fullmatch(r"/v1/invoices/(\w+)/(finalize|pay)", path)
        if match:
            invoice = fake.objects.get(match.group(1))
            if invoice is None:
                return self._error(404, f"No such invoice: '{match.group(1)}'")
            if match.group(2) == "finalize":
                invoice["status"] = "open"
            else:
                invoice.update(status="paid", amount_paid=invoice["amount_due"])
            return 200, invoice
        if path == "/v1/billing_portal/sessions":
            if p.get("customer") not in fake.objects:
                return self._error(400, "No such customer", "customer")
            session = fake.create(
                "bps",
                "billing_portal.session",
                {"customer": p["customer"], "return_url": p.get("return_url")},
            )
            session["url"] = f"https://billing.stripe.test/p/session/{session['id']}"
            return 200, session
        return self._error(404, f"Unrecognized request URL (POST: {path})")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeStripe


def start_server() -> tuple[_Server, str]:
    """Start on a free loopback port; returns the server and its base URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeStripe()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
