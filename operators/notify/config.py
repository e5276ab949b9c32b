"""Who is told what, on which channel, and when not to disturb them.

Secrets (bot tokens, webhook URLs, signing secrets, SMTP passwords) never appear in the
configuration file: a field names the environment variable (or a ``file:`` path) holding them.

>>> cfg = NotifyConfig.model_validate({"recipients": [
...     {"name": "desk", "channel": "slack", "target": "env:QUORUM_SLACK_URL",
...      "events": ["review_pending", "trading_state"],
...      "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Zurich"}}]})
>>> cfg.enabled, cfg.recipients[0].quiet_hours.wraps_midnight
(True, True)
"""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.notifications import NotificationEvent, Severity


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelKind(StrEnum):
    TELEGRAM = "telegram"  # Bot API sendMessage; target = chat id
    SLACK = "slack"  # incoming webhook; target = the webhook URL (a secret: use env:/file:)
    EMAIL = "email"  # SMTP; target = the address
    WEBHOOK = "webhook"  # JSON POST signed with HMAC-SHA256; target = the URL


class QuietHours(_Section):
    """A daily window in the recipient's time zone when only critical notifications go out."""

    start: time = Field(description="Local time the quiet window begins, e.g. 22:00")
    end: time = Field(description="Local time it ends, e.g. 07:00 (may be past midnight)")
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Zurich")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def wraps_midnight(self) -> bool:
        return self.start > self.end

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` (aware) falls inside the window, in the recipient's zone.

        >>> from datetime import UTC
        >>> q = QuietHours(start=time(22), end=time(7), timezone="UTC")
        >>> q.contains(datetime(2024, 1, 1, 23, tzinfo=UTC)), q.contains(datetime(2024, 1, 1, 12,
        ...     tzinfo=UTC))
        (True, False)
        """
        local = moment.astimezone(ZoneInfo(self.timezone)).time()
        if self.wraps_midnight:
            return local >= self.start or local < self.end
        return self.start <= local < self.end


class Recipient(_Section):
    """One person or room on one channel."""

    name: str = Field(min_length=1, description="Unique name, used in logs and the audit log")
    channel: ChannelKind
    target: str = Field(
        min_length=1,
        repr=False,  # a Slack webhook URL is a secret when written in directly
        description="Chat id, address or URL; 'env:NAME' or 'file:PATH' reads it from there",
    )
    events: tuple[NotificationEvent, ...] = Field(
        default=tuple(e for e in NotificationEvent if e is not NotificationEvent.TEST),
        description="Events this recipient receives (test messages always go to everyone)",
    )
    assets: tuple[str, ...] = Field(default=(), description="Only these assets; empty = all")
    min_severity: Severity = Field(default=Severity.INFO, description="Lower severities skipped")
    quiet_hours: QuietHours | None = None
    max_per_minute: int = Field(default=20, ge=1, le=10_000, description="Rate limit")

    def wants(self, event: NotificationEvent, severity: Severity, asset: str | None) -> bool:
        if event is NotificationEvent.TEST:
            return True
        if event not in self.events or severity.rank < self.min_severity.rank:
            return False
        return not self.assets or asset is None or asset in self.assets


class TelegramSettings(_Section):
    api_base: str = Field(
        default="https://api.telegram.org", description="Bot API base URL (a proxy or test server)"
    )
    token: str = Field(
        default="env:QUORUM_TELEGRAM_TOKEN",
        repr=False,
        description="Bot token: 'env:NAME' or 'file:PATH'",
    )


class SmtpSettings(_Section):
    host: str = Field(default="127.0.0.1", description="SMTP server")
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS")
    username: str | None = Field(default=None, description="Login, when the server needs one")
    password: str | None = Field(default=None, repr=False, description="'env:NAME' or 'file:PATH'")
    sender: str = Field(default="quorum@localhost", description="From: address")


class WebhookSettings(_Section):
    secret: str = Field(
        default="env:QUORUM_WEBHOOK_SECRET",
        repr=False,
        description="HMAC-SHA256 signing secret: 'env:NAME' or 'file:PATH'",
    )


class NotifyConfig(_Section):
    """The notifier: recipients, channel settings, deduplication and retries."""

    recipients: tuple[Recipient, ...] = Field(default=(), description="Nobody = notifier off")
    link_base: str | None = Field(
        default=None, description="Dashboard URL for links, e.g. https://quorum.example:8501"
    )
    dedupe_window_s: int = Field(
        default=3600, ge=0, description="The same fact goes to a recipient once in this window"
    )
    retry_attempts: int = Field(default=5, ge=1, le=20, description="Tries per send")
    retry_initial_s: float = Field(default=0.5, gt=0, description="First backoff (doubles)")
    retry_max_s: float = Field(default=30.0, gt=0, description="Longest backoff")
    timeout_s: float = Field(default=10.0, gt=0, description="Per HTTP request / SMTP session")
    queue_size: int = Field(default=10_000, ge=1, description="Pending sends held in memory")
    telegram: TelegramSettings = TelegramSettings()
    smtp: SmtpSettings = SmtpSettings()
    webhook: WebhookSettings = WebhookSettings()

    @property
    def enabled(self) -> bool:
        return bool(self.recipients)

    @model_validator(mode="after")
    def _unique_names(self) -> NotifyConfig:
        names = [r.name for r in self.recipients]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"recipient names must be unique; repeated: {duplicated}")
        return self
