"""`quorum live --metrics-port`: the running flow serves Prometheus metrics, and the run's SLA
figures are stored with it."""

from __future__ import annotations

import contextlib
import json
import socket
import threading

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from connectors.store.engine import open_store
from flows.cli import main

pytestmark = pytest.mark.timeout(180)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def test_live_flow_serves_metrics_and_stores_its_sla(tmp_path) -> None:
    port = free_port()
    scrapes: list[dict] = []
    done = threading.Event()

    def scrape() -> None:
        with httpx.Client(timeout=2) as client:
            while not done.is_set():
                with contextlib.suppress(httpx.HTTPError):  # not up yet, or already closed
                    scrapes.append(samples(client.get(f"http://127.0.0.1:{port}/metrics").text))
                done.wait(0.1)

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    store = tmp_path / "live.sqlite"
    args = ["live", "--simulator", "--symbols", "BTC/USDT", "--timeframes", "1m"]
    args += ["--duration", "6", "--speed", "60", "--store", str(store), "--quiet"]
    try:
        assert main([*args, "--metrics-port", str(port)]) == 0
    finally:
        done.set()
        scraper.join(5)

    assert scrapes, "the endpoint never answered while the flow ran"
    last = scrapes[-1]
    feed = (("source", "binance"), ("symbol", "BTC/USDT"))
    assert last[("quorum_feed_up", feed)] == 1
    assert last[("quorum_candles_total", (("timeframe", "1m"),))] >= 1
    assert last[("quorum_event_age_seconds_count", (("stage", "candle"),))] >= 1
    assert last[("quorum_trading_state", (("state", "active"),))] == 1
    assert last[("quorum_stage_latency_seconds_count", (("stage", "trade_to_candle"),))] >= 1
    inputs = [v for (name, labels), v in last.items() if name == "quorum_input_records_total"]
    assert inputs and sum(inputs) >= 1

    engine = open_store(store)
    with engine.connect() as conn:
        summary = json.loads(conn.execute(text("SELECT summary FROM runs")).scalar_one())
    engine.dispose()
    assert set(summary["sla"]["feed_uptime"]) == {"binance/BTC/USDT"}
    assert 0 < summary["sla"]["feed_uptime"]["binance/BTC/USDT"] <= 1
