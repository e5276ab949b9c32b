"""The four ways Quorum tells people: Telegram, Slack, email (SMTP) and signed webhooks.

Each channel sends one notification to one recipient and raises :class:`TransientSendError`
(worth retrying: timeouts, connection errors, 429, 5xx, SMTP 4xx) or :class:`PermanentSendError`
(a 4xx answer, a bad address). Error texts never contain a URL or header: bot tokens and Slack
webhook URLs are secrets.

Webhooks carry ``X-Quorum-Timestamp`` and ``X-Quorum-Signature: v1=<hex>``, the HMAC-SHA256 of
``"<timestamp>.<body>"`` with the shared secret; receivers check it with
:func:`verify_webhook_signature`.

>>> sig = webhook_signature("s3cret", "1700000000", b'{"event":"fill"}')
>>> verify_webhook_signature("s3cret", "1700000000", b'{"event":"fill"}', sig, now=1700000100)
True
>>> verify_webhook_signature("wrong", "1700000000", b'{"event":"fill"}', sig, now=1700000100)
False
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import time
from email.message import EmailMessage
from typing import Protocol

import httpx
import orjson

from connectors.notify.secrets import resolve_secret
from operators.notify.config import ChannelKind, NotifyConfig, Recipient
from schemas.notifications import Notification

WEBHOOK_TOLERANCE_S = 300


class SendError(Exception):
    """A send that did not go through; ``retry_after`` is the server's hint, in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientSendError(SendError):
    """Worth retrying."""


class PermanentSendError(SendError):
    """Retrying will not help."""


class Channel(Protocol):
    kind: ChannelKind

    def send(self, recipient: Recipient, notification: Notification) -> None: ...


def render_text(notification: Notification) -> str:
    """The plain-text message every channel sends (title, body, link)."""
    parts = [notification.title]
    if notification.body:
        parts.append(notification.body)
    if notification.link:
        parts.append(notification.link)
    return "\n".join(parts)


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify_webhook_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance_s: int = WEBHOOK_TOLERANCE_S,
) -> bool:
    """For receivers: the signature matches and the timestamp is within the tolerance."""
    try:
        age = (time.time() if now is None else now) - int(timestamp)
    except ValueError:
        return False
    expected = webhook_signature(secret, timestamp, body)
    return abs(age) <= tolerance_s and hmac.compare_digest(expected, signature)


def _check_http(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    retry_after = _retry_after(response)
    message = f"{what} answered HTTP {status}"
    if status == 429 or status >= 500:
        raise TransientSendError(message, retry_after)
    raise PermanentSendError(message)


def _retry_after(response: httpx.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if header is not None:
        try:
            return float(header)
        except ValueError:
            return None
    if response.headers.get("content-type", "").startswith("application/json"):
        try:
            params = response.json().get("parameters") or {}
        except ValueError:
            return None
        value = params.get("retry_after")  # Telegram's Bot API puts it in the body
        return float(value) if isinstance(value, int | float) else None
    return None


def _post(client: httpx.Client, url: str, what: str, **kwargs: object) -> httpx.Response:
    try:
        response = client.post(url, **kwargs)  # type: ignore[arg-type]
    except httpx.TimeoutException:
        raise TransientSendError(f"{what} timed out") from None
    except httpx.TransportError as exc:
        raise TransientSendError(f"{what} unreachable ({type(exc).__name__})") from None
    _check_http(response, what)
    return response


def post_signed_webhook(
    client: httpx.Client,
    url: str,
    secret: str,
    body: bytes,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a JSON ``body`` signed with ``secret`` (``X-Quorum-Timestamp``/``-Signature``).

    Raises :class:`TransientSendError` or :class:`PermanentSendError` as every channel does.
    """
    timestamp = str(int(time.time()))
    signed = {
        "Content-Type": "application/json",
        **(headers or {}),
        "X-Quorum-Timestamp": timestamp,
        "X-Quorum-Signature": webhook_signature(secret, timestamp, body),
    }
    return _post(client, url, "webhook", content=body, headers=signed)


class TelegramChannel:
    kind = ChannelKind.TELEGRAM

    def __init__(self, config: NotifyConfig, client: httpx.Client) -> None:
        self._base = config.telegram.api_base.rstrip("/")
        self._token = resolve_secret(config.telegram.token, "notifications.telegram.token")
        self._client = client

    def send(self, recipient: Recipient, notification: Notification) -> None:
        chat_id = resolve_secret(recipient.target, f"recipient {recipient.name}: target")
        body = {
            "chat_id": chat_id,
            "text": render_text(notification),
            "disable_web_page_preview": True,
        }
        response = _post(
            self._client, f"{self._base}/bot{self._token}/sendMessage", "Telegram", json=body
        )
        try:
            ok = response.json().get("ok") is True
        except ValueError:
            ok = False
        if not ok:
            raise PermanentSendError("Telegram answered without ok=true")


class SlackChannel:
    kind = ChannelKind.SLACK

    def __init__(self, config: NotifyConfig, client: httpx.Client) -> None:
        self._client = client

    def send(self, recipient: Recipient, notification: Notification) -> None:
        url = resolve_secret(recipient.target, f"recipient {recipient.name}: target")
        _post(self._client, url, "Slack", json={"text": render_text(notification)})


class WebhookChannel:
    kind = ChannelKind.WEBHOOK

    def __init__(self, config: NotifyConfig, client: httpx.Client) -> None:
        self._secret = resolve_secret(config.webhook.secret, "notifications.webhook.secret")
        self._client = client

    def send(self, recipient: Recipient, notification: Notification) -> None:
        url = resolve_secret(recipient.target, f"recipient {recipient.name}: target")
        body = orjson.dumps(notification.model_dump(mode="json"))
        post_signed_webhook(self._client, url, self._secret, body)


class EmailChannel:
    kind = ChannelKind.EMAIL

    def __init__(self, config: NotifyConfig) -> None:
        self._smtp = config.smtp
        self._timeout = config.timeout_s
        self._password = (
            resolve_secret(config.smtp.password, "notifications.smtp.password")
            if config.smtp.password
            else None
        )

    def send(self, recipient: Recipient, notification: Notification) -> None:
        message = EmailMessage()
        message["From"] = self._smtp.sender
        message["To"] = recipient.target
        message["Subject"] = f"[Quorum] {notification.title}"
        message.set_content(render_text(notification))
        try:
            with smtplib.SMTP(self._smtp.host, self._smtp.port, timeout=self._timeout) as smtp:
                if self._smtp.starttls:
                    smtp.starttls()
                if self._smtp.username and self._password:
                    smtp.login(self._smtp.username, self._password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused:
            raise PermanentSendError(f"SMTP refused recipient {recipient.name}") from None
        except smtplib.SMTPResponseException as exc:
            error = TransientSendError if 400 <= exc.smtp_code < 500 else PermanentSendError
            raise error(f"SMTP answered {exc.smtp_code}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientSendError(f"SMTP unreachable ({type(exc).__name__})") from None


def build_channels(config: NotifyConfig, client: httpx.Client) -> dict[ChannelKind, Channel]:
    """One channel per kind some recipient uses; missing secrets stop start-up here."""
    wanted = {r.channel for r in config.recipients}
    makers = {
        ChannelKind.TELEGRAM: lambda: TelegramChannel(config, client),
        ChannelKind.SLACK: lambda: SlackChannel(config, client),
        ChannelKind.WEBHOOK: lambda: WebhookChannel(config, client),
        ChannelKind.EMAIL: lambda: EmailChannel(config),
    }
    return {kind: makers[kind]() for kind in wanted}
