"""The guarded path: redaction before sending, cache by key, budgets, audit of every call."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from connectors.llm import LlmClient, LlmConfig, LlmError, LlmFailure
from connectors.store.audit import append_events, iter_chain, verify_store
from connectors.store.engine import open_store
from connectors.store.llm import LlmStore
from operators.explain.assistant import Assistant
from operators.explain.outputs import ExplanationDraft
from operators.explain.prompts import EXPLAIN_DECISION
from tests.llm.openai_server import OpenAiCompatibleServer, completion

SECRET = "sk-live-key-do-not-leak-0123456789"
NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


# built at run time so no file holds a string shaped like a live Stripe key
FAKE_STRIPE_KEY = "sk_" + "live_" + "51Habcdefghijklmnop"


@pytest.fixture
def server():
    with OpenAiCompatibleServer() as running:
        yield running


def _assistant(server, tmp_path, **overrides):
    settings = {
        "model": "local-model",
        "base_url": server.base_url,
        "max_retries": 0,
        "timeout_seconds": 5.0,
        "input_price_per_1k": "0.01",
        "output_price_per_1k": "0.03",
        **overrides,
    }
    config = LlmConfig(**settings)
    engine = open_store(tmp_path / "store.sqlite")
    clock = {"now": NOW}
    assistant = Assistant(
        config,
        LlmClient(config, api_key=SECRET),
        LlmStore(engine),
        lambda events: append_events(engine, events),
        secrets=[SECRET],
        clock=lambda: clock["now"],
    )
    return assistant, engine, clock


def _audited(engine):
    return [r for r in iter_chain(engine) if r.kind == "llm_call"]


def test_answer_is_validated_cached_and_audited(server, tmp_path):
    assistant, engine, _ = _assistant(server, tmp_path)
    server.script.append(
        completion(
            '{"summary": "Score +0.62 from two rules.", "points": ["a"]}',
            prompt_tokens=1000,
            completion_tokens=100,
        )
    )
    first = assistant.ask(EXPLAIN_DECISION, {"asset": "BTC/USDT"}, ExplanationDraft)
    again = assistant.ask(EXPLAIN_DECISION, {"asset": "BTC/USDT"}, ExplanationDraft)
    assert first.value.summary == again.value.summary == "Score +0.62 from two rules."
    assert (first.cached, again.cached) == (False, True)
    assert len(server.requests) == 1  # the second answer came from the cache
    [record] = _audited(engine)
    payload = record.payload
    assert payload["model"] == "local-model" and payload["template"] == "explain_decision"
    assert payload["prompt_tokens"] == 1000 and payload["completion_tokens"] == 100
    assert Decimal(payload["cost"]) == Decimal("0.013")
    assert payload["outcome"] == "ok" and len(payload["response_hash"]) == 64
    assert payload["parameters"] == {"temperature": 0.0, "max_tokens": 400}
    assert payload["prompt_hash"] == first.prompt.prompt_hash
    assert verify_store(engine).ok


def test_new_template_version_or_input_is_a_new_key(server, tmp_path):
    assistant, _, _ = _assistant(server, tmp_path)
    assistant.ask(EXPLAIN_DECISION, {"asset": "BTC/USDT"}, ExplanationDraft)
    assistant.ask(EXPLAIN_DECISION, {"asset": "ETH/BTC"}, ExplanationDraft)
    from dataclasses import replace

    assistant.ask(replace(EXPLAIN_DECISION, version=2), {"asset": "BTC/USDT"}, ExplanationDraft)
    assert len(server.requests) == 3


def test_secrets_and_personal_data_never_leave_the_process(server, tmp_path):
    assistant, engine, _ = _assistant(server, tmp_path)
    inputs = {
        "note": f"reviewer ana.lopez@example.com (+34 612 345 678) used key {SECRET}",
        "config": {
            "exchange_url": "https://trader:hunter22@api.example.com/v3",
            "stripe": FAKE_STRIPE_KEY,
            "auth": "Bearer abcdefghijklmnopqrstuvwx",
        },
        "host": "10.1.2.3",
    }
    answer = assistant.ask(EXPLAIN_DECISION, inputs, ExplanationDraft)
    body = server.raw_requests[0].split(b"\n", 1)[0].decode()
    for leaked in (
        "ana.lopez@example.com",
        "612 345 678",
        SECRET,
        "hunter22",
        FAKE_STRIPE_KEY,
        "abcdefghijklmnopqrstuvwx",
        "10.1.2.3",
    ):
        assert leaked not in body
    sent = json.loads(body)["messages"][1]["content"]
    assert "[REDACTED:email]" in sent and "[REDACTED:secret]" in sent
    assert "[REDACTED:url_credentials]" in sent and "[REDACTED:phone]" in sent
    assert answer.call is not None and answer.call.redactions["email"] == 1
    stored = " ".join(json.dumps(r.payload) for r in iter_chain(engine))
    assert SECRET not in stored and "ana.lopez" not in stored


def test_malformed_answer_is_rejected_recorded_and_not_cached(server, tmp_path):
    assistant, engine, _ = _assistant(server, tmp_path)
    server.script.append(completion("Sure! Here is the explanation: it went up."))
    with pytest.raises(LlmError) as caught:
        assistant.ask(EXPLAIN_DECISION, {"asset": "X"}, ExplanationDraft)
    assert caught.value.kind is LlmFailure.MALFORMED
    server.script.append(completion('{"summary": "x", "points": [], "execute": "rm -rf /"}'))
    with pytest.raises(LlmError):
        assistant.ask(EXPLAIN_DECISION, {"asset": "X"}, ExplanationDraft)
    assert [r.payload["outcome"] for r in _audited(engine)] == ["malformed", "malformed"]
    assistant.ask(EXPLAIN_DECISION, {"asset": "X"}, ExplanationDraft)  # default answer: valid
    assert len(server.requests) == 3


def test_daily_call_budget_stops_calls_until_the_next_day(server, tmp_path):
    assistant, _, clock = _assistant(server, tmp_path, max_calls_per_day=2)
    for asset in ("A", "B"):
        assistant.ask(EXPLAIN_DECISION, {"asset": asset}, ExplanationDraft)
    with pytest.raises(LlmError) as caught:
        assistant.ask(EXPLAIN_DECISION, {"asset": "C"}, ExplanationDraft)
    assert caught.value.kind is LlmFailure.BUDGET and len(server.requests) == 2
    assistant.ask(EXPLAIN_DECISION, {"asset": "A"}, ExplanationDraft)  # cached: free
    clock["now"] = NOW + timedelta(days=1)
    assistant.ask(EXPLAIN_DECISION, {"asset": "C"}, ExplanationDraft)
    assert len(server.requests) == 3


def test_daily_cost_budget(server, tmp_path):
    assistant, _, _ = _assistant(server, tmp_path, max_cost_per_day="0.004")
    server.script.append(
        completion('{"summary": "x"}', prompt_tokens=100_000, completion_tokens=0)
    )  # costs 1.0
    assistant.ask(EXPLAIN_DECISION, {"asset": "A"}, ExplanationDraft)
    with pytest.raises(LlmError) as caught:
        assistant.ask(EXPLAIN_DECISION, {"asset": "B"}, ExplanationDraft)
    assert caught.value.kind is LlmFailure.BUDGET
    assert "1.00 of 0.004 spent" in str(caught.value)


def test_failed_calls_are_audited_with_their_outcome(server, tmp_path):
    from tests.llm.openai_server import rate_limited

    assistant, engine, _ = _assistant(server, tmp_path)
    server.script.append(rate_limited())
    with pytest.raises(LlmError):
        assistant.ask(EXPLAIN_DECISION, {"asset": "A"}, ExplanationDraft)
    [record] = _audited(engine)
    assert record.payload["outcome"] == "rate_limited" and record.payload["response_hash"] is None
