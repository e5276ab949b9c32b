"""Health (feeds, lag, last candle per symbol, dead letters) and Prometheus metrics."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

import connectors
from connectors.store.market import latest_candle_per_symbol, read_runs, write_dead_letters
from connectors.store.signals import read_fused
from schemas.common import Timeframe
from schemas.records import DeadLetter

Headers = Callable[[str], dict[str, str]]
DATA = Path(connectors.__file__).parent / "data" / "btc-perp_1m_2022-01.parquet"


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(name)}{re.escape(labels)} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name}{labels} not in the exposition"
    return float(match.group(1))


def test_health_reports_every_feed_with_its_lag(
    client: TestClient, engine: Engine, headers: Headers, now: datetime
) -> None:
    body = client.get("/v1/health", headers=headers("reader")).json()
    latest = (
        latest_candle_per_symbol(engine)
        .with_columns(
            bar=pl.col("timeframe").map_elements(
                lambda tf: Timeframe.parse(tf).seconds, return_dtype=pl.Int64
            )
        )
        .sort("symbol", "bar")
    )  # by symbol, shortest bar first
    assert [(f["symbol"], f["timeframe"]) for f in body["feeds"]] == list(
        zip(latest["symbol"], latest["timeframe"], strict=True)
    )
    assert [f["timeframe"] for f in body["feeds"]] == ["1m", "5m", "15m", "1h", "4h"]
    for feed, row in zip(body["feeds"], latest.iter_rows(named=True), strict=True):
        bar = Timeframe.parse(row["timeframe"]).seconds
        assert feed["lag_seconds"] == now.timestamp() - (row["ts"].timestamp() + bar)
        assert feed["close"] == row["close"]
        assert feed["stale"] is (feed["lag_seconds"] > 3 * bar)
    minutes = pl.read_parquet(DATA)
    one_minute = next(f for f in body["feeds"] if f["timeframe"] == "1m")
    last_close = minutes["ts"].max() + timedelta(minutes=1)
    assert one_minute["last_close_time"] == last_close.isoformat().replace("+00:00", "Z")
    assert one_minute["lag_seconds"] == (now - last_close).total_seconds() == 5280
    assert body["status"] == "degraded"  # a 1m feed silent for 88 minutes is stale
    assert body["dead_letters"] == 0 and body["dead_letters_by_reason"] == []
    assert body["last_run"]["run_id"] == read_runs(engine)["run_id"][-1]
    assert body["running"] == []


def test_health_counts_dead_letters_by_reason(
    client: TestClient, engine: Engine, headers: Headers
) -> None:
    letters = [
        DeadLetter(source="replay", reason="non_positive_price", detail="price=-1", raw=f"r{i}")
        for i in range(3)
    ] + [DeadLetter(source="replay", reason="bad_json", detail="eof", raw="{")]
    write_dead_letters(engine, "r1", letters)
    body = client.get("/v1/health", headers=headers("reader")).json()
    assert body["dead_letters"] == 4
    assert body["dead_letters_by_reason"] == [
        {"reason": "bad_json", "count": 1},
        {"reason": "non_positive_price", "count": 3},
    ]


def test_metrics_match_the_store(client: TestClient, engine: Engine, headers: Headers) -> None:
    write_dead_letters(
        engine, "r1", [DeadLetter(source="ws", reason="bad_json", detail="eof", raw="{")]
    )
    for _ in range(3):
        client.get("/v1/signals/latest", headers=headers("reader"))
    response = client.get("/metrics", headers=headers("reader"))
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    decisions = read_fused(engine).group_by("decision").len()
    for decision, n in decisions.iter_rows():
        assert _metric(text, "quorum_fused_signals_total", f'{{decision="{decision}"}}') == n
    runs = read_runs(engine)
    records = sum(s["records_in"] for s in runs["summary"].to_list())
    assert records > 40_000
    assert _metric(text, "quorum_records_in_total") == records
    assert _metric(text, "quorum_dead_letters_total", '{reason="bad_json"}') == 1
    pending = _metric(text, "quorum_review_queue", '{status="pending"}')
    assert pending == read_fused(engine).filter(pl.col("decision") == "review").height
    latency = '{method="GET",route="/v1/signals/latest",status="200"}'
    assert _metric(text, "quorum_api_request_duration_seconds_count", latency) == 3
    lag = _metric(text, "quorum_feed_lag_seconds", '{symbol="BTC-PERP",timeframe="1m"}')
    assert lag == 5280  # the clock is 07:00, the last 1m candle closed at 05:32
