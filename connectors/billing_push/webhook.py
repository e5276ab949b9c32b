"""The webhook channel: each delivered signal is a signed HTTP POST to the customer's URL.

The request is the notification webhook's (:func:`connectors.notify.channels.
post_signed_webhook`): JSON body, ``X-Quorum-Timestamp`` and ``X-Quorum-Signature: v1=<hex>``
(HMAC-SHA256 of ``"<timestamp>.<body>"`` with the customer's secret), which receivers check
with :func:`connectors.notify.channels.verify_webhook_signature`. The body::

    {"event": "fused_signal", "id": <usage id>, "customer": …, "price_minor": …,
     "currency": …, "delivered_at": …, "data": <the fused signal as the plan shows it>}

``id`` is the same for a re-delivery of the same signal to the same customer (receivers dedupe
on it). A non-2xx answer or an unreachable URL stops the customer's batch there.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import orjson

from connectors.billing_push.errors import PushError
from connectors.notify.channels import SendError, post_signed_webhook
from connectors.notify.secrets import resolve_secret
from operators.billing.delivery import Push


def webhook_body(customer: str, push: Push) -> bytes:
    usage = push.usage
    return orjson.dumps(
        {
            "event": "fused_signal",
            "id": usage.usage_id,
            "customer": customer,
            "price_minor": usage.price_minor,
            "currency": usage.currency,
            "delivered_at": usage.delivered_at.isoformat(),
            "data": push.signal.model_dump(mode="json"),
        }
    )


class WebhookPush:
    """POSTs pushes to the URLs of ``endpoints`` (``customer → (url, secret reference)``)."""

    def __init__(
        self, endpoints: dict[str, tuple[str, str]], client: httpx.Client | None = None
    ) -> None:
        self.endpoints = endpoints
        self._client = client or httpx.Client(timeout=10.0)

    def reaches(self, customer: str) -> bool:
        return customer in self.endpoints

    def send(self, customer: str, pushes: Sequence[Push]) -> None:
        url, secret_ref = self.endpoints[customer]
        secret = resolve_secret(secret_ref, f"webhook secret of customer {customer!r}")
        for done, push in enumerate(pushes):
            try:
                post_signed_webhook(self._client, url, secret, webhook_body(customer, push))
            except SendError as exc:
                raise PushError(f"webhook of {customer!r} failed: {exc}", done) from None

    def close(self) -> None:
        self._client.close()
