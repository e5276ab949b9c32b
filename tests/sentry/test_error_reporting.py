"""Sentry gets the error, never the secrets around it."""

from __future__ import annotations

import json

import sentry_sdk
from sentry_sdk.transport import Transport

from connectors.sentry import init_error_reporting

BOT = "123456:" + "AAH-4kLx_9qzQ0rZcGv7YpWmE2sTnKdBfUe"


class Captured(Transport):
    def __init__(self, options=None) -> None:
        super().__init__(options)
        self.events: list[dict] = []

    def capture_envelope(self, envelope) -> None:
        for item in envelope.items:
            if item.type == "event":
                self.events.append(json.loads(item.payload.get_bytes()))


def test_off_without_a_dsn(monkeypatch) -> None:
    monkeypatch.delenv("QUORUM_SENTRY_DSN", raising=False)
    assert init_error_reporting() is False


def test_an_error_is_reported_with_its_secrets_scrubbed() -> None:
    transport = Captured()
    assert init_error_reporting("https://public@sentry.invalid/1", transport=transport)
    try:
        # built at run time: the source lines Sentry sends must not contain the values
        api_key = "-".join(["AKIA", "runtime", "secret"])  # noqa: F841
        store_url = "postgresql+psycopg://quorum:" + "hunter" + "2@db/q"  # noqa: F841
        raise RuntimeError(f"POST https://api.telegram.org/bot{BOT}/sendMessage failed")
    except RuntimeError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush()
    sentry_sdk.get_client().close()
    [event] = transport.events
    text = json.dumps(event)
    assert "RuntimeError" in text
    for secret in (BOT, "AKIA-runtime-secret", "hunter2"):
        assert secret not in text, secret
    assert "bot[Filtered]/sendMessage" in text
    frame = event["exception"]["values"][0]["stacktrace"]["frames"][-1]
    assert frame["vars"]["api_key"] == "[Filtered]"
