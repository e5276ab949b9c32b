"""The real openai SDK against a local OpenAI-compatible server: answers and every failure."""

from __future__ import annotations

import logging

import pytest

from connectors.llm import LlmClient, LlmConfig, LlmError, LlmFailure
from tests.llm.openai_server import OpenAiCompatibleServer, Reply, completion, rate_limited


@pytest.fixture
def server():
    with OpenAiCompatibleServer() as running:
        yield running


def _client(server: OpenAiCompatibleServer, **overrides: object) -> LlmClient:
    settings = {
        "model": "local-model",
        "base_url": server.base_url,
        "timeout_seconds": 5.0,
        "max_retries": 0,
        **overrides,
    }
    return LlmClient(LlmConfig(**settings), api_key="sk-test-key-0123456789abcdef")


def test_fixed_completion_with_usage(server):
    server.script.append(completion('{"summary": "fine"}', prompt_tokens=77, completion_tokens=9))
    answer = _client(server).complete("system text", "user text")
    assert (answer.text, answer.prompt_tokens, answer.completion_tokens) == (
        '{"summary": "fine"}',
        77,
        9,
    )
    sent = server.requests[0]
    assert sent["model"] == "local-model"
    assert sent["messages"] == [
        {"role": "system", "content": "system text"},
        {"role": "user", "content": "user text"},
    ]
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["temperature"] == 0.0


def test_timeout_is_a_timeout_error(server):
    server.script.append(Reply(hang=True))
    with pytest.raises(LlmError) as caught:
        _client(server, timeout_seconds=0.3).complete("s", "u")
    assert caught.value.kind is LlmFailure.TIMEOUT


def test_429_is_retried_by_the_sdk_then_answers(server):
    server.script.extend([rate_limited(), completion('{"summary": "after retry"}')])
    answer = _client(server, max_retries=2).complete("s", "u")
    assert answer.text == '{"summary": "after retry"}'
    assert len(server.requests) == 2


def test_429_after_every_retry_is_rate_limited(server):
    server.script.extend([rate_limited(), rate_limited()])
    with pytest.raises(LlmError) as caught:
        _client(server, max_retries=1).complete("s", "u")
    assert caught.value.kind is LlmFailure.RATE_LIMITED
    assert len(server.requests) == 2


def test_refusal_and_content_filter_are_refusals(server):
    server.script.append(completion(None, refusal="I can't help with that."))
    with pytest.raises(LlmError) as caught:
        _client(server).complete("s", "u")
    assert caught.value.kind is LlmFailure.REFUSED
    server.script.append(completion("", finish_reason="content_filter"))
    with pytest.raises(LlmError) as caught:
        _client(server).complete("s", "u")
    assert caught.value.kind is LlmFailure.REFUSED


def test_unreadable_body_and_empty_choices_are_malformed(server):
    server.script.append(completion(None))
    with pytest.raises(LlmError) as caught:
        _client(server).complete("s", "u")
    assert caught.value.kind is LlmFailure.MALFORMED
    server.script.append(
        Reply(
            body={"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []}
        )
    )
    with pytest.raises(LlmError) as caught:
        _client(server).complete("s", "u")
    assert caught.value.kind is LlmFailure.MALFORMED


def test_server_errors_and_unreachable_server(server):
    server.script.append(Reply(status=400, body={"error": {"message": "bad model"}}))
    with pytest.raises(LlmError) as caught:
        _client(server).complete("s", "u")
    assert caught.value.kind is LlmFailure.REJECTED
    closed = LlmClient(LlmConfig(model="m", base_url="http://127.0.0.1:1/v1", max_retries=0))
    with pytest.raises(LlmError) as caught:
        closed.complete("s", "u")
    assert caught.value.kind is LlmFailure.UNAVAILABLE


def test_the_key_is_sent_as_bearer_and_never_shown(server, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("QUORUM_TEST_LLM_KEY", "sk-from-env-abcdefghijklmnop")
    client = LlmClient(
        LlmConfig(
            model="m", base_url=server.base_url, max_retries=0, api_key_env="QUORUM_TEST_LLM_KEY"
        )
    )
    server.script.append(Reply(status=401, body={"error": {"message": "invalid key"}}))
    with pytest.raises(LlmError) as caught:
        client.complete("s", "u")
    assert b"Bearer sk-from-env-abcdefghijklmnop" in server.raw_requests[0]
    assert "sk-from-env" not in str(caught.value) and "sk-from-env" not in repr(client)
    assert "HTTP Request" in caplog.text and "sk-from-env" not in caplog.text
