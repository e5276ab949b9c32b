"""The service-levels page under Streamlit's AppTest: feed uptime from the stored feed tables and
the run's SLA figures, latency p50/p99 against the target, breaches; an empty store explained."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st

from connectors.store.engine import open_store
from connectors.store.feed_health import write_feed_health
from connectors.store.market import finish_run, start_run
from schemas.market import FeedHealth
from tests.dashboards.test_pages import no_errors, page

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def empty_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "sla.sqlite"
    open_store(path).dispose()
    monkeypatch.setenv("QUORUM_STORE", str(path))
    monkeypatch.delenv("QUORUM_REPORT", raising=False)
    yield path
    st.cache_resource.clear()


def report(symbol: str, status: str, second: int, event: str = "status") -> FeedHealth:
    return FeedHealth(
        source="binance", symbol=symbol, status=status, ts=T0 + timedelta(seconds=second),
        event=event,
    )  # fmt: skip


def test_an_empty_store_says_where_the_figures_come_from(empty_store: Path) -> None:
    at = page("sla")
    no_errors(at)
    assert "No service-level figures yet" in at.info[0].value


def test_uptime_per_feed_and_latency_against_the_targets(empty_store: Path) -> None:
    engine = open_store(empty_store)
    run_id = start_run(engine, "live", {})
    write_feed_health(
        engine,
        run_id,
        [
            report("BTC/USDT", "catching_up", 0),
            report("BTC/USDT", "live", 10),
            report("BTC/USDT", "stale", 70),
            report("BTC/USDT", "live", 80),
            report("BTC/USDT", "live", 110, event="heartbeat"),  # last word at 110 s
            report("ETH/USDT", "live", 0),
            report("ETH/USDT", "live", 110, event="heartbeat"),
        ],
    )
    sla = {
        "feed_uptime": {"binance/BTC/USDT": 0.95, "binance/ETH/USDT": 1.0},
        "fused_latency_p50_s": 0.12,
        "fused_latency_p99_s": 1.4,
        "breaches": ["feed binance/BTC/USDT uptime 0.9500 < 0.99", "p99 1.400 s > 1.0 s"],
        "targets": {"feed_uptime": 0.99, "fused_latency_p99_s": 1.0},
    }
    finish_run(engine, run_id, {"sla": sla})
    engine.dispose()

    at = page("sla")
    no_errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["feeds below target"] == "1"
    assert metrics["fused latency p99"] == "1.400 s"
    assert [w.value for w in at.warning] == [f"SLA breach: {b}" for b in sla["breaches"]]
    feeds = at.dataframe[0].value
    assert feeds["symbol"].tolist() == ["BTC/USDT", "ETH/USDT"]
    # BTC live 10–70 s and 80–110 s of 0–110 s observed
    assert feeds["uptime over the run"].tolist() == pytest.approx([90 / 110, 1.0])
    assert feeds["uptime (SLA window)"].tolist() == [0.95, 1.0]
    assert feeds["met"].tolist() == [False, True]
    latency = at.dataframe[1].value
    assert latency["p99 (s)"].tolist() == [1.4] and latency["met"].tolist() == [False]
