"""The notifier: a background sender, so the flow never waits for Slack or an SMTP server.

``submit`` only puts the notification on a bounded queue. One thread routes it (subscriptions,
deduplication, quiet hours, rate limits), sends it with retries and exponential backoff
(``tenacity``; a server's ``Retry-After`` is honoured), and records every send and every
failure in the audit chain (kind ``notification``) when a store is given. Nothing is dropped
silently: a full queue, a missing secret or an exhausted retry is a ``failed`` delivery with its
reason, counted, logged and audited.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.exc import IntegrityError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from connectors.notify.channels import (
    Channel,
    SendError,
    TransientSendError,
    build_channels,
)
from connectors.notify.secrets import SecretMissingError, resolve_secret
from connectors.store.audit import AuditConflictError, append_events
from connectors.store.engine import open_store
from operators.audit.chain import AuditEvent
from operators.notify.config import ChannelKind, NotifyConfig, Recipient
from operators.notify.derive import NotificationDeriver
from operators.notify.routing import Router
from schemas.notifications import Delivery, DeliveryOutcome, Notification
from schemas.operations import SlaBreach

logger = logging.getLogger(__name__)

AUDIT_KIND = "notification"
_STOP = object()
_AUDIT_ATTEMPTS = 5


def _now() -> datetime:
    return datetime.now(UTC)


class _Backoff:
    """Exponential backoff, stretched to the server's ``Retry-After`` when it asks for more."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = maximum

    def __call__(self, state: RetryCallState) -> float:
        wait = min(self._maximum, self._initial * 2 ** (state.attempt_number - 1))
        error = state.outcome.exception() if state.outcome else None
        hint = getattr(error, "retry_after", None)
        return min(self._maximum, max(wait, hint)) if hint else wait


class Notifier:
    """Sends notifications in the background; see the module docstring."""

    def __init__(
        self,
        config: NotifyConfig,
        *,
        audit_url: str | None = None,
        channels: Mapping[ChannelKind, Channel] | None = None,
        clock: Callable[[], datetime] = _now,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._client = httpx.Client(timeout=config.timeout_s)
        for recipient in config.recipients:  # fail at start-up, not at the first alert
            resolve_secret(recipient.target, f"recipient {recipient.name}: target")
        self._channels = (
            dict(channels) if channels is not None else build_channels(config, self._client)
        )
        self._router = Router(config)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=config.queue_size)
        self._engine = open_store(audit_url) if audit_url else None
        self._sleep = sleep
        self._thread = threading.Thread(target=self._work, name="quorum-notifier", daemon=True)
        self.outcomes: Counter[str] = Counter()
        self.recent: deque[Delivery] = deque(maxlen=1_000)
        self._lock = threading.Lock()

    # --- the flow's side: never blocks ---------------------------------------------------------

    def start(self) -> Notifier:
        self._thread.start()
        return self

    def submit(self, notification: Notification) -> None:
        try:
            self._queue.put_nowait(notification)
        except queue.Full:
            for recipient, _ in self._router.route(notification, self._clock()):
                self._record(
                    notification, recipient, DeliveryOutcome.FAILED, 0, "notifier queue full"
                )

    def close(self, timeout: float = 30.0) -> None:
        """Send what is queued (up to ``timeout`` seconds), then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)
        self._client.close()
        if self._engine is not None:
            self._engine.dispose()

    def __enter__(self) -> Notifier:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the sender thread ---------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                self.deliver(item)
            except Exception:  # the thread must survive anything one message does
                logger.exception("notifier: unexpected error delivering %s", item.key)

    def deliver(self, notification: Notification) -> list[Delivery]:
        """Route and send one notification now (the thread's work; tests call it directly)."""
        deliveries = []
        for recipient, held in self._router.route(notification, self._clock()):
            if held is not None:
                deliveries.append(self._record(notification, recipient, held, 0, None))
                continue
            deliveries.append(self._send(notification, recipient))
        return deliveries

    def _send(self, notification: Notification, recipient: Recipient) -> Delivery:
        channel = self._channels[recipient.channel]
        retrying = Retrying(
            stop=stop_after_attempt(self.config.retry_attempts),
            wait=_Backoff(self.config.retry_initial_s, self.config.retry_max_s),
            retry=retry_if_exception_type(TransientSendError),
            reraise=True,
            **({"sleep": self._sleep} if self._sleep is not None else {}),
        )
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    channel.send(recipient, notification)
        except SendError as exc:
            return self._record(notification, recipient, DeliveryOutcome.FAILED, attempts, str(exc))
        except ValueError as exc:  # a secret that vanished from the environment
            return self._record(notification, recipient, DeliveryOutcome.FAILED, attempts, str(exc))
        return self._record(notification, recipient, DeliveryOutcome.SENT, attempts, None)

    def _record(
        self,
        notification: Notification,
        recipient: Recipient,
        outcome: DeliveryOutcome,
        attempts: int,
        error: str | None,
    ) -> Delivery:
        delivery = Delivery(
            key=notification.key,
            event=notification.event,
            recipient=recipient.name,
            channel=recipient.channel.value,
            outcome=outcome,
            attempts=attempts,
            error=error,
            ts=self._clock(),
        )
        with self._lock:
            self.outcomes[outcome.value] += 1
            self.recent.append(delivery)
        if outcome is DeliveryOutcome.FAILED:
            logger.warning(
                "notification %s to %s failed: %s", notification.key, recipient.name, error
            )
        if outcome in (DeliveryOutcome.SENT, DeliveryOutcome.FAILED):
            self._audit(delivery)
        return delivery

    def _audit(self, delivery: Delivery) -> None:
        if self._engine is None:
            return
        event = AuditEvent(AUDIT_KIND, delivery.ts, delivery.model_dump(mode="json"))
        for attempt in range(_AUDIT_ATTEMPTS):
            try:  # the flow's audit sink appends too: a lost race retries on the new head
                append_events(self._engine, [event])
                return
            except (AuditConflictError, IntegrityError):
                if attempt == _AUDIT_ATTEMPTS - 1:
                    raise


# --- wiring for the commands that run a flow ---------------------------------------------------


def start_notifier(config: NotifyConfig, audit_url: str | None) -> Notifier | None:
    """A started notifier when recipients are configured, else ``None`` (the default).

    A secret that cannot be read stops start-up: :class:`~flows.config.ConfigError` naming it.
    """
    if not config.enabled:
        return None
    from flows.config import ConfigError

    try:
        return Notifier(config, audit_url=audit_url).start()
    except SecretMissingError as exc:
        raise ConfigError(f"notifications: {exc}") from None


def notify_sink(notifier: Notifier | None, config: NotifyConfig) -> Any:
    """The flow's notification sink for ``notifier`` (``None`` when notifications are off)."""
    from connectors.notify.sink import NotifySink

    return None if notifier is None else NotifySink(notifier, config.link_base)


def sla_breach_listener(notifier: Notifier | None) -> Callable[[SlaBreach], None] | None:
    """What the flow's metrics call on an SLA breach: notify (``None`` when notifications are
    off). The breach becomes an ``sla_breach`` notification, routed and audited like the others."""
    if notifier is None:
        return None
    deriver = NotificationDeriver()

    def on_breach(breach: SlaBreach) -> None:
        notification = deriver.derive(breach)
        if notification is not None:
            notifier.submit(notification)

    return on_breach


def stop_notifier(notifier: Notifier | None, stats: Any) -> None:
    """Send what is queued, stop, and count the outcomes into the run's statistics."""
    if notifier is None:
        return
    notifier.close()
    for outcome, count in sorted(notifier.outcomes.items()):
        stats.count(f"notifications:{outcome}", count)
