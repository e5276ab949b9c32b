"""The dashboard's Venues page shows every reconciliation discrepancy the store holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from connectors.store.engine import open_store
from connectors.store.venue import write_venue_records
from schemas.venue import IssueKind, ReconcileIssue


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "store.sqlite"
    engine = open_store(str(path))
    issue = ReconcileIssue(
        venue="binance",
        kind=IssueKind.UNKNOWN_ORDER,
        detail="venue order 7 (placed-by-hand, BTC/USDT, new) is not in the ledger",
        action="cancelled",
        order_id="placed-by-hand",
        ts=datetime(2022, 1, 1, tzinfo=UTC),
    )
    with engine.begin() as conn:
        write_venue_records(conn, [issue], "r1")
    engine.dispose()
    monkeypatch.setenv("QUORUM_STORE", str(path))
    yield path
    st.cache_resource.clear()


def test_venues_page_lists_reconciliation_issues(store: Path) -> None:
    at = AppTest.from_string(
        "from dashboards.views import venues\nvenues.render()\n", default_timeout=60
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["reconciliation issues"] == "1"
    row = at.dataframe[0].value.iloc[0]
    assert (row["kind"], row["action"]) == ("unknown_order", "cancelled")


def test_venues_page_lists_the_venues_price_divergences(store: Path) -> None:
    from operators.divergence import DataQualityEvent

    event = DataQualityEvent(
        kind="price_divergence",
        symbol="BTC/USDC",
        ts=datetime(2022, 1, 1, tzinfo=UTC),
        sources=("sim-b", "sim-a"),
        prices=(47167.05, 46470.0),
        divergence_bps=148.9,
        threshold_bps=50,
        blocks_entries=True,
        detail="sim-b 47167.05 vs sim-a 46470.0: 148.9 bps",
    )
    engine = open_store(str(store))
    with engine.begin() as conn:
        write_venue_records(conn, [event], "r1")
    engine.dispose()
    at = AppTest.from_string(
        "from dashboards.views import venues\nvenues.render()\n", default_timeout=60
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Venues' price divergences" in [s.value for s in at.subheader]
    row = at.dataframe[-1].value.iloc[0]
    assert (row["symbol"], row["blocks_entries"]) == ("BTC/USDC", True)
