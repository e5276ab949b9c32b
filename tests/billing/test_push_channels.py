"""The webhook push channel: only entitled signals, as late as the plan says, signed, metered once.

The Kafka channel's twin test, against a real broker, is ``test_kafka_channel.py``.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from connectors.billing_push.webhook import WebhookPush
from connectors.notify.channels import verify_webhook_signature
from connectors.store.billing import (
    read_usage,
    set_webhook_endpoint,
    webhook_endpoints,
    write_usage,
)
from flows.billing_delivery import deliver
from operators.billing.metering import Roster, meter
from schemas.billing import Channel
from tests.billing.conftest import PUSH_NOW as NOW
from tests.billing.conftest import PUSH_SIGNALS as SIGNALS
from tests.billing.conftest import push_catalogue

SECRET = "push-secret-for-tests"


def _roster(engine) -> Roster:
    from connectors.store.billing import read_subscriptions

    return Roster(push_catalogue(), read_subscriptions(engine))


def _received(peer) -> list[tuple[str, str]]:
    out = []
    for r in peer.received:
        headers = {k.lower(): v for k, v in r.headers.items()}
        assert verify_webhook_signature(
            SECRET,
            headers["x-quorum-timestamp"],
            r.body,
            headers["x-quorum-signature"],
        ), "every push is signed with the customer's secret"
        body = json.loads(r.body)
        out.append((r.path, body["data"]["fused_id"]))
    return out


def test_webhook_delivers_only_entitled_signals_when_due_signed_and_metered_once(
    push_store, http_peer, monkeypatch
) -> None:
    engine = push_store
    monkeypatch.setenv("QUORUM_TEST_PUSH_SECRET", SECRET)
    for customer in ("ana", "bea", "eve"):
        set_webhook_endpoint(
            engine, customer, f"{http_peer.url}/{customer}", "env:QUORUM_TEST_PUSH_SECRET"
        )
    sender = WebhookPush(webhook_endpoints(engine))

    report = deliver(engine, Channel.WEBHOOK, sender, NOW)
    # Pro has no webhook (ana is scanned: past due, she could fall back to Basic, which has)
    assert {c.customer: c.delivered for c in report.customers} == {"ana": 0, "bea": 1, "eve": 5}
    got = _received(http_peer)
    assert [f for p, f in got if p == "/eve"] == ["eth", "ignore", "review", "old-open", "new-open"]
    # Basic: BTC OPEN only, 15 minutes late: new-open (5 min old) is held
    assert [f for p, f in got if p == "/bea"] == ["old-open"]
    assert {c.customer: c.held for c in report.customers}["bea"] is True
    body = json.loads(next(r.body for r in http_peer.received if r.path == "/bea"))
    assert [c["timeframe"] for c in body["data"]["contributions"]] == ["1h", "4h"]

    # a second pass at the same instant sends nothing; ten minutes later bea's is due
    assert deliver(engine, Channel.WEBHOOK, sender, NOW).delivered == 0
    later = deliver(engine, Channel.WEBHOOK, sender, NOW + timedelta(minutes=10))
    assert later.delivered == 1 and [f for _, f in _received(http_peer)][-1] == "new-open"

    # metered once per (customer, signal): the flow's metering of the same signals adds nothing
    usage = read_usage(engine)
    assert sorted((u.customer_id, u.signal_id) for u in usage if u.customer_id != "ana") == sorted(
        [("bea", "old-open"), ("bea", "new-open")] + [("eve", s.fused_id) for s in SIGNALS]
    )
    flow_metering = [u for s in SIGNALS for u in meter(s, _roster(engine))]
    write_usage(engine, [u for u in flow_metering if u.customer_id in ("bea", "eve")])
    assert read_usage(engine) == usage
    by_id = {u.usage_id: u for u in flow_metering}
    assert all(by_id[u.usage_id] == u for u in usage), "the push meters the flow's own event"


def test_a_failed_webhook_is_retried_next_pass_and_nothing_is_metered_twice(
    push_store, http_peer, monkeypatch
) -> None:
    engine = push_store
    monkeypatch.setenv("QUORUM_TEST_PUSH_SECRET", SECRET)
    set_webhook_endpoint(engine, "eve", f"{http_peer.url}/eve", "env:QUORUM_TEST_PUSH_SECRET")
    sender = WebhookPush(webhook_endpoints(engine))
    http_peer.answer_next(200)
    http_peer.answer_next(503)  # the second push fails
    first = deliver(engine, Channel.WEBHOOK, sender, NOW)
    assert first.delivered == 1 and "answered HTTP 503" in first.errors[0]
    assert [u.signal_id for u in read_usage(engine, customer_id="eve")] == ["eth"]
    second = deliver(engine, Channel.WEBHOOK, sender, NOW)
    assert second.delivered == 4 and not second.errors
    assert [f for _, f in _received(http_peer)] == [
        "eth", "ignore", "ignore", "review", "old-open", "new-open",
    ]  # fmt: skip
    assert len(read_usage(engine, customer_id="eve")) == 5


def test_webhook_endpoints_keep_secret_references_only(push_store) -> None:
    with pytest.raises(ValueError, match="must be a reference"):
        set_webhook_endpoint(push_store, "eve", "https://example.test/hook", "s3cret")
    with pytest.raises(ValueError, match="must start with https://"):
        set_webhook_endpoint(push_store, "eve", "ftp://x", "env:X")


def test_cli_registers_a_webhook_and_delivers(push_store, http_peer, monkeypatch, capsys) -> None:
    from flows.cli import main as cli

    monkeypatch.setenv("QUORUM_TEST_PUSH_SECRET", SECRET)
    url = str(push_store.url)
    hook = f"{http_peer.url}/eve"
    secret = "env:QUORUM_TEST_PUSH_SECRET"
    assert cli(["billing", "webhook", "eve", hook, "--secret", secret, "--store", url]) == 0
    assert cli(["billing", "webhook", "zed", hook, "--secret", "env:X", "--store", url]) != 0
    assert cli(["billing", "deliver", "--channel", "webhook", "--store", url]) == 0
    assert "webhook → eve: 5 delivered; up to date" in capsys.readouterr().out
    assert len(_received(http_peer)) == 5


class _CrashAfterSending:
    """Delivers, then dies before the pass records anything (a crash between the two)."""

    def __init__(self, inner: WebhookPush) -> None:
        self.inner = inner

    def reaches(self, customer: str) -> bool:
        return self.inner.reaches(customer)

    def send(self, customer, pushes) -> None:
        self.inner.send(customer, pushes)
        raise RuntimeError("killed after sending")

    def close(self) -> None:
        self.inner.close()


def test_a_crash_between_sending_and_recording_resends_with_the_same_ids_and_meters_once(
    push_store, http_peer, monkeypatch
) -> None:
    engine = push_store
    monkeypatch.setenv("QUORUM_TEST_PUSH_SECRET", SECRET)
    set_webhook_endpoint(engine, "eve", f"{http_peer.url}/eve", "env:QUORUM_TEST_PUSH_SECRET")
    sender = WebhookPush(webhook_endpoints(engine))
    with pytest.raises(RuntimeError, match="killed"):
        deliver(engine, Channel.WEBHOOK, _CrashAfterSending(sender), NOW)
    assert read_usage(engine, customer_id="eve") == []  # nothing recorded: it will be resent
    assert deliver(engine, Channel.WEBHOOK, sender, NOW).delivered == 5
    ids = [json.loads(r.body)["id"] for r in http_peer.received]
    assert len(ids) == 10 and ids[:5] == ids[5:]  # at-least-once; receivers dedupe on the id
    assert sorted(u.usage_id for u in read_usage(engine, customer_id="eve")) == sorted(ids[:5])
