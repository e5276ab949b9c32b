"""Who gets a notification now: subscriptions, deduplication, quiet hours and rate limits.

Pure apart from the clock it is handed. Rate limits use the ``limits`` library's moving
window per recipient.

>>> from datetime import UTC, datetime
>>> from operators.notify.config import NotifyConfig
>>> from schemas.notifications import Notification
>>> cfg = NotifyConfig.model_validate({"recipients": [
...     {"name": "ops", "channel": "webhook", "target": "http://127.0.0.1:9/hook"}]})
>>> router = Router(cfg)
>>> now = datetime(2024, 1, 1, 12, tzinfo=UTC)
>>> n = Notification(event="fill", key="fill:f1", title="Filled", ts=now)
>>> [(r.name, outcome) for r, outcome in router.route(n, now)]
[('ops', None)]
>>> [(r.name, outcome.value) for r, outcome in router.route(n, now)]  # the same fact again
[('ops', 'duplicate')]
"""

from __future__ import annotations

from datetime import datetime, timedelta

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from operators.notify.config import NotifyConfig, Recipient
from schemas.notifications import DeliveryOutcome, Notification, Severity


class Router:
    """Decides, per subscribed recipient, whether to send (``None``) or why not."""

    def __init__(self, config: NotifyConfig) -> None:
        self._config = config
        self._window = timedelta(seconds=config.dedupe_window_s)
        self._told: dict[tuple[str, str], datetime] = {}
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._limits = {r.name: RateLimitItemPerMinute(r.max_per_minute) for r in config.recipients}

    def route(
        self, notification: Notification, now: datetime
    ) -> list[tuple[Recipient, DeliveryOutcome | None]]:
        self._forget_before(now - self._window)
        routed: list[tuple[Recipient, DeliveryOutcome | None]] = []
        for recipient in self._config.recipients:
            if not recipient.wants(notification.event, notification.severity, notification.asset):
                continue
            routed.append((recipient, self._hold_back(recipient, notification, now)))
        return routed

    def _hold_back(
        self, recipient: Recipient, notification: Notification, now: datetime
    ) -> DeliveryOutcome | None:
        told_key = (recipient.name, notification.key)
        if told_key in self._told:
            return DeliveryOutcome.DUPLICATE
        quiet = recipient.quiet_hours
        if (
            quiet is not None
            and notification.severity is not Severity.CRITICAL
            and quiet.contains(now)
        ):
            return DeliveryOutcome.QUIET_HOURS
        if not self._limiter.hit(self._limits[recipient.name], recipient.name):
            return DeliveryOutcome.RATE_LIMITED
        self._told[told_key] = now
        return None

    def _forget_before(self, cutoff: datetime) -> None:
        if self._told and next(iter(self._told.values())) < cutoff:
            self._told = {k: t for k, t in self._told.items() if t >= cutoff}
