"""``quorum live`` on two simulated venues: real routing decisions, audited with their inputs,
and the venues' price check blocking new entries while one venue's book is skewed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from connectors.store.engine import open_store
from connectors.store.trading import read_fills
from connectors.store.venue import read_venue_records
from tests.routers.conftest import run_live_simulator

PROFILE = "live-two-venues.yaml"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def audited_kinds(store: Path) -> dict[str, int]:
    with open_store(str(store)).connect() as conn:
        rows = conn.execute(text("select kind, count(*) from audit_log group by kind")).all()
    return {kind: count for kind, count in rows}


def test_orders_are_routed_over_both_venues_and_every_decision_is_audited(tmp_path, capsys) -> None:
    store = tmp_path / "routed.sqlite"
    assert run_live_simulator(PROFILE, store) == 0
    assert "routing decisions:" in capsys.readouterr().out
    engine = open_store(str(store))
    routes = read_venue_records(engine, "route")
    commands = read_venue_records(engine, "command")
    assert routes, "an OPEN decision in 45 s of replayed minutes is routed"
    for route in routes:
        assert set(route["inputs"]) <= {"sim-a", "sim-b"} and route["reason"]
        for venue in route["inputs"].values():
            assert {"quote", "depth", "fee_bps", "latency_ms", "all_in"} <= set(venue)
    # sim-a's top holds 0.2 BTC, entries are ~1 BTC: every routed entry takes sim-a's depth
    # first (its all-in price is the better one) and splits the rest to sim-b
    split = [r for r in routes if set(r["allocations"]) == {"sim-a", "sim-b"}]
    assert split, [r["allocations"] for r in routes]
    venues_used = {c["venue"] for c in commands}
    assert venues_used == {"sim-a", "sim-b"}
    fills = read_fills(engine)
    assert {f.split(":")[0] for f in fills["fill_id"].to_list()} == {"sim-a", "sim-b"}
    assert audited_kinds(store)["route_decision"] == len(routes)


def test_while_one_venue_is_skewed_no_entry_is_sent(tmp_path, capsys) -> None:
    store = tmp_path / "skewed.sqlite"
    assert run_live_simulator(PROFILE, store, "--venue-fault", "sim-b=skew:150@0") == 0
    out = capsys.readouterr().out
    assert "entries refused: data_quality" in out
    engine = open_store(str(store))
    (event,) = read_venue_records(engine, "divergence")
    assert event["kind"] == "price_divergence" and event["blocks_entries"]
    assert set(event["sources"]) == {"sim-a", "sim-b"} and event["divergence_bps"] > 100
    assert read_venue_records(engine, "command") == []
    with engine.connect() as conn:
        reasons = conn.execute(text("select reason from risk_decisions")).scalars().all()
    assert "data_quality" in reasons and "approved" not in reasons
    assert audited_kinds(store)["data_quality"] == 1
