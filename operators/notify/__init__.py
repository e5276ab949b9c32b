"""Notifications: derive what people should be told from flow records, and route it.

Pure cores only; the channels and the background sender live in ``connectors/notify``.
"""

from operators.notify.config import ChannelKind, NotifyConfig, QuietHours, Recipient
from operators.notify.derive import NotificationDeriver
from operators.notify.routing import Router

__all__ = [
    "ChannelKind",
    "NotificationDeriver",
    "NotifyConfig",
    "QuietHours",
    "Recipient",
    "Router",
]
