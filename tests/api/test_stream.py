"""The live stream of fused signals (Server-Sent Events): order, resume, filters, live arrival."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from connectors.store.signals import read_fused, write_fused
from schemas.signals import Decision, FusedSignal

Headers = Callable[[str], dict[str, str]]


def parse_sse(text: str) -> list[dict[str, str]]:
    """Events of an SSE body (comments and retry-only blocks left out)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = fields.get(name, "") + value.removeprefix(" ")
        if "data" in fields:
            events.append(fields)
    return events


def stream(client: TestClient, headers: dict[str, str], **params: object) -> list[dict]:
    with client.stream("GET", "/v1/signals/stream", params=params, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return parse_sse("".join(response.iter_text()))


def _ascending(engine: Engine) -> pl.DataFrame:
    return read_fused(engine).sort("ts", "fused_id")


def _first_cursor(client: TestClient, headers: dict[str, str]) -> str:
    """The cursor of the oldest fused signal, as a client gets it from the history."""
    page = client.get("/v1/signals", params={"order": "asc", "limit": 1}, headers=headers)
    return page.json()["items"][0]["cursor"]


def test_events_follow_the_cursor_in_store_order(
    client: TestClient, engine: Engine, headers: Headers
) -> None:
    rows = _ascending(engine).head(7).to_dicts()
    events = stream(
        client, headers("reader"), after=_first_cursor(client, headers("reader")), max_events=6
    )
    assert [json.loads(e["data"])["fused_id"] for e in events] == [r["fused_id"] for r in rows[1:]]
    assert {e["event"] for e in events} == {"fused_signal"}
    for e in events:  # the event id is the item's own cursor
        assert e["id"] == json.loads(e["data"])["cursor"]


def test_resume_from_last_event_id(client: TestClient, engine: Engine, headers: Headers) -> None:
    rows = _ascending(engine).head(10).to_dicts()
    first = stream(
        client, headers("reader"), after=_first_cursor(client, headers("reader")), max_events=4
    )
    resumed = stream(
        client,
        {**headers("reader"), "Last-Event-ID": first[-1]["id"]},
        after=_first_cursor(
            client, headers("reader")
        ),  # the header wins: it is what EventSource sends on reconnect
        max_events=5,
    )
    seen = [json.loads(e["data"])["fused_id"] for e in first + resumed]
    assert seen == [r["fused_id"] for r in rows[1:10]]


def test_stream_filters_by_decision(client: TestClient, engine: Engine, headers: Headers) -> None:
    fused = _ascending(engine)
    reviews = fused.filter(pl.col("decision") == "review")["fused_id"].to_list()
    assert len(reviews) >= 2
    events = stream(
        client,
        headers("reader"),
        after=_first_cursor(client, headers("reader")),
        decision="review",
        max_events=len(reviews),
    )
    assert [json.loads(e["data"])["fused_id"] for e in events] == reviews


def test_without_a_position_the_stream_starts_after_the_newest_signal(
    make_client: Callable[..., TestClient], headers: Headers
) -> None:
    client = make_client(stream_max_seconds=0.0)  # close at the first poll that finds nothing
    with client.stream("GET", "/v1/signals/stream", headers=headers("reader")) as response:
        body = "".join(response.iter_text())
    assert parse_sse(body) == []
    assert "retry: 1000" in body


@pytest.mark.timeout(60)
def test_a_signal_written_while_connected_arrives(
    make_client: Callable[..., TestClient], engine: Engine, headers: Headers
) -> None:
    client = make_client(stream_poll_seconds=0.01)
    newest = _ascending(engine).row(-1, named=True)
    polled = threading.Event()

    def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        if "FROM fused_signals" in statement and "ORDER BY fused_signals.ts ASC" in statement:
            polled.set()  # the stream has looked once and found nothing new

    fresh = FusedSignal(
        fused_id="sig-live-test",
        asset=newest["asset"],
        timestamp=newest["ts"] + timedelta(minutes=15),
        score=0.81,
        direction="long",
        decision=Decision.OPEN,
        reasons=["written while a client was connected"],
    )

    def writer() -> None:
        assert polled.wait(30)
        write_fused(engine, [fresh])

    event.listen(engine, "after_cursor_execute", on_execute)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        events = stream(client, headers("reader"), max_events=1)
    finally:
        thread.join(30)
        event.remove(engine, "after_cursor_execute", on_execute)
    (only,) = events
    body = json.loads(only["data"])
    assert (body["fused_id"], body["decision"], body["score"]) == ("sig-live-test", "open", 0.81)


@pytest.mark.parametrize(
    ("headers_extra", "params", "field"),
    [
        ({"Last-Event-ID": "not-an-id"}, {}, "Last-Event-ID"),
        ({}, {"after": "%%%"}, "after"),
        ({}, {"max_events": 0}, "max_events"),
    ],
)
def test_bad_positions_are_422(
    client: TestClient,
    headers: Headers,
    headers_extra: dict[str, str],
    params: dict[str, object],
    field: str,
) -> None:
    response = client.get(
        "/v1/signals/stream", params=params, headers={**headers("reader"), **headers_extra}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][1] == field
