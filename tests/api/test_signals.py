"""Signal routes against the store the real flow wrote: latest, history filters, paging, detail.

Every expectation is computed independently from the store's own polars readers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.cursor import Cursor
from connectors.store.signals import read_fused, read_signals

Headers = Callable[[str], dict[str, str]]


def _fused(engine: Engine) -> pl.DataFrame:
    frame = read_fused(engine)
    assert frame.height > 1000, "the replay should have fused thousands of signals"
    return frame.with_columns(pl.col("ts").dt.epoch("ns").alias("ts_ns"))


def _walk(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> list[dict]:
    """Follow next_cursor to the end; return every item."""
    items, cursor = [], None
    for _ in range(1000):
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        page = client.get(path, params=query, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


def test_latest_is_the_newest_fused_signal_per_asset(
    client: TestClient, engine: Engine, headers: Headers
) -> None:
    fused = _fused(engine)
    expected = fused.sort("ts", "fused_id").group_by("asset", maintain_order=True).last()
    body = client.get("/v1/signals/latest", headers=headers("reader")).json()
    assert [(s["asset"], s["fused_id"]) for s in body] == list(
        zip(expected["asset"], expected["fused_id"], strict=True)
    )
    reviews = client.get(
        "/v1/signals/latest", params={"decision": "review"}, headers=headers("reader")
    ).json()
    newest_review = fused.filter(pl.col("decision") == "review").sort("ts").row(-1, named=True)
    assert [s["fused_id"] for s in reviews] == [newest_review["fused_id"]]
    assert reviews[0]["decision"] == "review" and abs(reviews[0]["score"]) >= 0.5


def test_walking_the_history_returns_every_signal_once_newest_first(
    client: TestClient, engine: Engine, headers: Headers
) -> None:
    fused = _fused(engine)
    items = _walk(client, "/v1/signals", headers("reader"), limit=500)
    expected = fused.sort(["ts", "fused_id"], descending=True)["fused_id"].to_list()
    assert [i["fused_id"] for i in items] == expected


def test_ascending_pages_resume_exactly_after_the_cursor(
    client: TestClient, engine: Engine, headers: Headers
) -> None:
    expected = _fused(engine).sort("ts", "fused_id")["fused_id"].to_list()[:30]
    first = client.get(
        "/v1/signals", params={"order": "asc", "limit": 10}, headers=headers("reader")
    ).json()
    second = client.get(
        "/v1/signals",
        params={"order": "asc", "limit": 20, "cursor": first["next_cursor"]},
        headers=headers("reader"),
    ).json()
    assert [i["fused_id"] for i in first["items"] + second["items"]] == expected
    assert first["items"][-1]["cursor"] == first["next_cursor"]


@pytest.mark.parametrize("decision", ["review", "ignore"])
def test_decision_and_time_filters(
    client: TestClient, engine: Engine, headers: Headers, decision: str
) -> None:
    fused = _fused(engine)
    start, end = datetime(2022, 1, 4, tzinfo=UTC), datetime(2022, 1, 11, 12, tzinfo=UTC)
    expected = fused.filter(
        (pl.col("decision") == decision) & (pl.col("ts") >= start) & (pl.col("ts") < end)
    )
    assert expected.height > 0
    items = _walk(
        client,
        "/v1/signals",
        headers("reader"),
        decision=decision,
        start=start.isoformat(),
        end="2022-01-11T12:00:00",  # naive means UTC
        limit=200,
    )
    assert sorted(i["fused_id"] for i in items) == sorted(expected["fused_id"])
    assert {i["decision"] for i in items} == {decision}


def test_origin_and_timeframe_filters_look_at_the_contributions(
    client: TestClient, engine: Engine, headers: Headers
) -> None:
    fused = _fused(engine)

    def contributes(row: dict, origin: str | None, timeframe: str | None) -> bool:
        return any(
            (origin is None or c["origin"] == origin)
            and (timeframe is None or c["timeframe"] == timeframe)
            for c in row["contributions"]
        )

    rows = fused.to_dicts()
    for origin, timeframe in [("stat:zscore_reversion", None), (None, "4h"), ("ml:online", "1h")]:
        expected = [r["fused_id"] for r in rows if contributes(r, origin, timeframe)]
        assert 0 < len(expected) < len(rows)
        params = {k: v for k, v in {"origin": origin, "timeframe": timeframe}.items() if v}
        items = _walk(client, "/v1/signals", headers("reader"), limit=100, **params)
        assert sorted(i["fused_id"] for i in items) == sorted(expected), params


def test_asset_filter_and_unknown_asset(
    client: TestClient, engine: Engine, headers: Headers
) -> None:
    asset = _fused(engine)["asset"][0]
    page = client.get(
        "/v1/signals", params={"asset": asset, "limit": 5}, headers=headers("reader")
    ).json()
    assert len(page["items"]) == 5 and {i["asset"] for i in page["items"]} == {asset}
    empty = client.get("/v1/signals", params={"asset": "NOPE/USD"}, headers=headers("reader"))
    assert empty.json() == {"items": [], "next_cursor": None}


def test_one_fused_signal_with_its_contributions_and_sources(
    client: TestClient, engine: Engine, headers: Headers
) -> None:
    fused = _fused(engine)
    row = fused.filter(pl.col("contributions").map_elements(len, return_dtype=pl.Int64) >= 3).row(
        0, named=True
    )
    body = client.get(f"/v1/signals/{row['fused_id']}", headers=headers("reader")).json()
    assert body["score"] == row["score"] and body["decision"] == row["decision"]
    assert body["contributions"] == row["contributions"]
    assert sum(c["share"] for c in body["contributions"]) == pytest.approx(row["score"])
    source_ids = {c["signal_id"] for c in row["contributions"]}
    stored = read_signals(engine).filter(pl.col("signal_id").is_in(list(source_ids)))
    assert {s["signal_id"] for s in body["signals"]} == set(stored["signal_id"])
    for signal in body["signals"]:
        match = stored.filter(pl.col("signal_id") == signal["signal_id"]).row(0, named=True)
        assert (signal["origin"], signal["confidence"]) == (match["origin"], match["confidence"])
    assert body["review"] is None or body["review"]["fused_id"] == row["fused_id"]


def test_a_review_band_signal_carries_its_review(
    client: TestClient, engine: Engine, headers: Headers
) -> None:
    fused_id = _fused(engine).filter(pl.col("decision") == "review")["fused_id"][0]
    body = client.get(f"/v1/signals/{fused_id}", headers=headers("reader")).json()
    assert body["review"]["status"] == "pending"


def test_unknown_signal_is_404(client: TestClient, headers: Headers) -> None:
    response = client.get("/v1/signals/sig-does-not-exist", headers=headers("reader"))
    assert response.status_code == 404
    assert response.json() == {"detail": "no fused signal 'sig-does-not-exist'"}


def test_source_signal_history_filters(
    client: TestClient, engine: Engine, headers: Headers
) -> None:
    stored = read_signals(engine)
    expected = stored.filter(
        (pl.col("origin") == "rules:rsi_reversal_long") & (pl.col("timeframe") == "15m")
    )
    assert expected.height > 0
    items = _walk(
        client,
        "/v1/source-signals",
        headers("reader"),
        origin="rules:rsi_reversal_long",
        timeframe="15m",
        direction="long",
        limit=7,
    )
    assert sorted(i["signal_id"] for i in items) == sorted(expected["signal_id"])
    assert all(i["meta"] is not None and i["expires_at"] > i["timestamp"] for i in items)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": Cursor(5, "x").encode()[:-2] + "\x01"}, "cursor"),
        ({"decision": "maybe"}, "decision"),
        ({"timeframe": "7m"}, "timeframe"),
        ({"order": "sideways"}, "order"),
        ({"start": "yesterday"}, "start"),
        ({"start": "9999-12-31T00:00:00Z"}, "start"),
        ({"start": "1969-12-31T23:59:59Z"}, "start"),
        ({"start": "2022-01-05", "end": "2022-01-05"}, "end"),
        ({"asset": "BTC\x00"}, "asset"),
        ({"asset": "A" * 129}, "asset"),
    ],
)
def test_bad_requests_are_422_naming_the_field(
    client: TestClient, headers: Headers, params: dict[str, Any], field: str
) -> None:
    response = client.get("/v1/signals", params=params, headers=headers("reader"))
    assert response.status_code == 422, response.text
    body = response.json()
    assert [e["loc"][1] for e in body["detail"]] == [field]
    assert body["message"].startswith(f"{body['detail'][0]['loc'][0]}.{field}")


def test_cursor_round_trip_survives_odd_ids() -> None:
    for ident in ["sig-1", "a:b:c", "ünïcödé", "x" * 160]:
        cursor = Cursor(1_641_000_000_000_000_000, ident)
        assert Cursor.decode(cursor.encode()) == cursor
