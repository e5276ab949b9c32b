"""A real kill -9 between send and acknowledgement: ``quorum live --mode live`` in a subprocess,
against a simulator that outlives it, SIGKILLs itself the moment the venue's answer accepting
its first order arrives (``QUORUM_CRASH_AFTER_ACCEPTED=1``: a kill point fixed by the data, not
by timing), before the answer reaches the flow. Restarted on the same recovery directory and
store, the router finds the order through reconciliation and its send journal, books its fills
exactly once, and never sends it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from connectors.simulator import ExchangeSimulator, SimulatorConfig
from connectors.store.engine import open_store
from connectors.store.trading import read_fills
from connectors.store.venue import read_venue_records
from flows.faults import CRASH_ACCEPTED_ENV

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "flows" / "profiles" / "live-demo.yaml"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def live(sim: ExchangeSimulator, tmp: Path, duration: int, env: dict[str, str] | None = None):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "live",
            "--simulator-at",
            f"{sim.rest_url},{sim.ws_url}",
            "--symbols",
            "BTC/USDC",
            "--data",
            "candles",
            "--duration",
            str(duration),
            "--mode",
            "live",
            "--config",
            str(tmp / "live.yaml"),
            "--store",
            str(tmp / "live.sqlite"),
            "--recovery-dir",
            str(tmp / "recovery"),
            "--snapshot-interval",
            "1",
            "--quiet",
        ],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_kill_between_send_and_ack_books_the_fill_once_and_never_resends(tmp_path) -> None:
    profile = yaml.safe_load(DEMO.read_text())
    # the simulator runs 240 times faster than the wall: reconcile over a simulated day
    profile["trading"]["live"]["reconcile_lookback_seconds"] = 86_400
    (tmp_path / "live.yaml").write_text(yaml.safe_dump(profile))
    with ExchangeSimulator(SimulatorConfig(speed=240, ping_interval=None)) as sim:
        venue = sim.trading.engine
        killed = live(sim, tmp_path, 300, {CRASH_ACCEPTED_ENV: "1"})
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        (sent,) = venue.orders.values()  # accepted and filled at the venue, then the kill
        assert sent.executed > 0
        store = open_store(str(tmp_path / "live.sqlite"))
        assert sent.client_id not in read_fills(store)["order_id"].to_list()  # ack never booked

        restarted = live(sim, tmp_path, 40)
        assert restarted.returncode == 0, restarted.stderr[-3000:]

        # no order was sent twice: every placement is a distinct order, none refused as a
        # duplicate (a lookup after a timeout that finds nothing may precede a first send)
        assert venue.placements == len(venue.orders)
        duplicates = [r for r in sim.trading.refused if "Duplicate" in r[2]]
        assert duplicates == []
        fills = read_fills(store)
        booked = fills.filter(fills["order_id"] == sent.client_id)
        assert sorted(booked["fill_id"].to_list()) == sorted(
            f"binance:{f.trade_id}" for f in sent.fills
        )
        assert sum(booked["quantity"].cast(float).to_list()) == pytest.approx(float(sent.executed))
        issues = read_venue_records(store, "reconcile")
        adopted = [i for i in issues if i["order_id"] == sent.client_id]
        # Usually the router lost the order with the process and takes it back from its send
        # journal ("adopted", once). If a Bytewax snapshot fell between the command and the
        # venue's answer (1 s epochs), the restart already knows the order and there is nothing
        # to adopt; either way its fills are booked once and it is never resent (above).
        assert [i["action"] for i in adopted] in (["adopted"], [])
        with store.connect() as conn:
            runs = conn.execute(text("select count(distinct run_id) from venue_records")).scalar()
        assert runs == 1  # the restarted run resumed the first one
