"""The control room end to end: while the flow built by ``build_flow`` runs, people change its
configuration through the API and the CLI; each version reaches the running flow through the
inbox, without a restart, and shows in its output — a raised band turns OPEN decisions into
REVIEW, a switched-off playbook stops emitting, a revert brings both back, a lowered position
limit sizes the next entry — and a position closed by hand books a closing fill. Every change is
an audited version.

The market source stands for time passing: it emits one-minute candles, presses a button
between two of them, then waits until the flow's output shows the press taken in (the version's
:class:`~schemas.control.ControlApplied`, the close's result) before going on, so the test never
depends on how fast the inbox polls. Phases are told apart by event time, which the presses
never move.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSource, run_main
from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import create_key
from api.settings import ApiSettings
from connectors.files import load_candles, shipped_path
from connectors.replay import ReplaySource
from connectors.store.audit import iter_chain
from connectors.store.control import read_applied
from connectors.store.engine import open_store
from connectors.store.inbox import ManualActionInbox
from connectors.store.sink import StoreSink, StoreWriter
from flows.cli import main
from flows.config import load_config
from flows.pipeline import FlowOutputs, build_flow
from flows.summary import RunStats
from schemas.batches import CandleBatch
from schemas.common import NS_PER_MINUTE, datetime_to_ns
from schemas.control import ControlApplied
from schemas.operations import ManualActionResult
from schemas.signals import Decision, FusedSignal, Signal
from schemas.trading import Fill, OrderIntent, Side
from tests.flows.test_kill_switch import ScriptSource, StoppingInbox

T0 = 1_641_038_400_000_000_000  # 2022-01-01 12:00 UTC
PLAYBOOK = "rules:always_long"
BARS = 70
RAISE, DISABLE, REVERT, LIMIT, CLOSE = 25, 35, 45, 50, 55
"""Bars before which each button is pressed."""
SMALL = 1000
"""The position limit (quote currency) set before the hand close: the re-entry obeys it."""


def write_config(tmp_path: Path) -> Path:
    """A run whose one source is a playbook saying long at every close with confidence 0.8."""
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "always.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "always_long",
                "direction": "long",
                "timeframe": "1m",
                "when": "close > 0",
                "confidence": 0.8,
                "trigger": "level",
                "expires_after": 2,
            }
        )
    )
    off = {"enabled": False}
    config = {
        "candles": {"timeframes": ["1m"]},
        "signals": {
            "timeframes": ["1m"],
            "rules": {"paths": [str(playbooks)]},
            "zscore": off,
            "breakout": off,
            "trend": off,
            "online": off,
        },
        "fusion": {"timeframe_weights": {"1m": 1.0}},
        "trading": {
            "assets": ["A/B"],
            "review_policy": "queue",
            "atr_feature": "atr_14",
            "atr_timeframe": "1m",
            "signal_wait_seconds": 1,
        },
    }
    path = tmp_path / "quorum.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def bar(k: int) -> CandleBatch:
    close = 100.0 + np.sin(k / 3.0)
    open_ = 100.0 + np.sin((k - 1) / 3.0)
    return CandleBatch.from_columns(
        "A/B",
        "1m",
        [T0 + k * NS_PER_MINUTE],
        [open_],
        [max(open_, close) + 0.05],
        [min(open_, close) - 0.05],
        [close],
        [1e6],
    )


def closes_at(k: int) -> int:
    """Event time at which bar ``k`` closes (what fusion stamps its decision with)."""
    return T0 + (k + 1) * NS_PER_MINUTE


@pytest.fixture
def desk(tmp_path: Path) -> tuple[str, Path, TestClient, Callable[[str], dict[str, str]]]:
    url = str(tmp_path / "store.sqlite")
    config_path = write_config(tmp_path)
    engine = open_store(url)
    keys = {
        "tuner": create_key(engine, "ana", ["control", "trading:control", "signals:read"]).key,
        "desk": create_key(engine, "bo", ["trading:control", "signals:read"]).key,
    }
    settings = ApiSettings(
        store=url, config=str(config_path), now=lambda: datetime(2026, 1, 1, tzinfo=UTC)
    )
    client = TestClient(create_app(settings, engine=engine))
    return url, config_path, client, lambda who: {"X-API-Key": keys[who]}


def test_only_the_control_scope_changes_the_configuration_and_bad_values_are_named(desk) -> None:
    _url, _config, client, headers = desk
    body = {"fusion": {"open_above": 0.9}, "reason": "fewer entries"}
    assert client.post("/v1/control", json=body).status_code == 401
    assert client.post("/v1/control", json=body, headers=headers("desk")).status_code == 403
    bad = client.post(
        "/v1/control",
        json={"fusion": {"review_from": 0.8}, "reason": "x"},
        headers=headers("tuner"),
    )
    assert bad.status_code == 422
    assert bad.json()["message"].startswith(
        "body.fusion.review_from: Value error, review_from (0.8)"
    )
    unknown = client.post(
        "/v1/control", json={"disable": ["rules:nope"], "reason": "x"}, headers=headers("tuner")
    )
    assert unknown.status_code == 422 and "no source 'rules:nope'" in unknown.json()["message"]
    same = client.post(
        "/v1/control", json={"fusion": {"open_above": 0.7}, "reason": "x"}, headers=headers("tuner")
    )
    assert same.status_code == 409 and "changes nothing" in same.json()["detail"]
    state = client.get("/v1/control", headers=headers("desk")).json()
    assert state["version"] == 0 and state["sources"] == [PLAYBOOK]


def test_changes_reach_the_running_flow_audited_and_reverted_and_a_hand_close_fills(
    desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, config_path, client, headers = desk
    config = load_config(config_path)

    def post(path: str, body: dict[str, Any], who: str = "tuner") -> dict[str, Any]:
        response = client.post(path, json=body, headers=headers(who))
        assert response.status_code == 200, response.text
        return response.json()

    def raise_band() -> None:
        post("/v1/control", {"fusion": {"open_above": 0.9}, "reason": "fewer entries"})

    def switch_off() -> None:
        post("/v1/control", {"disable": [PLAYBOOK], "reason": "misfiring"})

    def revert() -> None:
        monkeypatch.setattr("getpass.getuser", lambda: "ops")
        argv = ["control", "revert", "0", "--reason", "back to the file"]
        assert main([*argv, "--store", url, "--config", str(config_path)]) == 0

    def limit() -> None:
        post("/v1/control", {"risk": {"max_position_notional": SMALL}, "reason": "smaller"})

    def close() -> None:
        post("/v1/trading/close", {"asset": "A/B", "reason": "news"}, who="desk")

    presses = {RAISE: raise_band, DISABLE: switch_off, REVERT: revert, LIMIT: limit, CLOSE: close}
    steps: list[Any] = []
    for k in range(BARS):
        if k in presses:
            steps.append(presses[k])
        steps.append(bar(k))
    taken = [threading.Event() for _ in presses]
    waits = list(taken)

    collected: list[Any] = []

    def collect(items: list[Any]) -> None:
        collected.extend(items)
        for item in items:
            if isinstance(item, ControlApplied) and item.version > 0:
                taken[item.version - 1].set()
            elif isinstance(item, ManualActionResult):
                taken[-1].set()

    done = threading.Event()
    flow = build_flow(
        ScriptSource(steps, waits, done),
        config=config,
        outputs=FlowOutputs(collect=collect, store=StoreSink(url, StoreWriter("control-room"))),
        manual_actions=StoppingInbox(url, done, poll_seconds=0.02),
    )
    run_main(flow)

    def phase(first: int, last: int) -> tuple[int, int]:
        return closes_at(first), closes_at(last - 1)

    def decisions(first: int, last: int) -> set[Decision]:
        lo, hi = phase(first, last)
        return {
            f.decision
            for f in collected
            if isinstance(f, FusedSignal) and lo <= datetime_to_ns(f.timestamp) <= hi
        }

    def emitted(first: int, last: int) -> int:
        lo, hi = phase(first, last)
        return sum(
            1
            for s in collected
            if isinstance(s, Signal)
            and s.origin == PLAYBOOK
            and lo <= datetime_to_ns(s.timestamp) <= hi
        )

    # 0.8 > 0.7 opens; with the band raised to 0.9 the same score is a REVIEW
    assert decisions(1, RAISE) == {Decision.OPEN}
    assert decisions(RAISE, DISABLE) == {Decision.REVIEW}
    # switched off: the playbook stops, its live signal stops counting; switched on: it resumes
    assert emitted(1, RAISE) == RAISE - 1 and emitted(RAISE, DISABLE) == DISABLE - RAISE
    assert emitted(DISABLE, REVERT) == 0
    assert decisions(DISABLE, REVERT) == {Decision.IGNORE}
    assert emitted(REVERT, CLOSE) == CLOSE - REVERT
    assert decisions(REVERT, CLOSE) == {Decision.OPEN}

    # the hand close: applied, a reduce-only sell through the guards, filled after the press
    [result] = [e for e in collected if isinstance(e, ManualActionResult)]
    assert result.applied and result.action.actor == "bo" and result.action.asset == "A/B"
    [exit_intent] = [
        e for e in collected if isinstance(e, OrderIntent) and e.reason == "closed by bo"
    ]
    assert exit_intent.reduce_only and exit_intent.side is Side.SELL
    closing = [
        e for e in collected if isinstance(e, Fill) and e.order_id.endswith(exit_intent.intent_id)
    ]
    assert closing and sum(f.quantity for f in closing) == exit_intent.quantity
    assert all(datetime_to_ns(f.ts) >= closes_at(CLOSE - 1) for f in closing)

    # the risk limit set before the close: the first entry was bigger, the re-entry obeys it
    entries = [e for e in collected if isinstance(e, OrderIntent) and e.fused_id is not None]
    first, again = entries[0], entries[-1]
    assert datetime_to_ns(first.timestamp) < closes_at(RAISE)
    assert datetime_to_ns(again.timestamp) >= closes_at(CLOSE - 1)
    assert first.quantity * first.reference_price > SMALL
    assert 0 < again.quantity * again.reference_price <= SMALL

    # every change is an audited version with who and why; the flow recorded what it applied
    engine = open_store(url)
    chain = list(iter_chain(engine))
    versions = [r.payload for r in chain if r.kind == "control_change"]
    assert [(v["version"], v["actor"], v["via"][:4], v["reverts_to"]) for v in versions] == [
        (1, "ana", "api:", None),
        (2, "ana", "api:", None),
        (3, "cli:ops", "cli", 0),
        (4, "ana", "api:", None),
    ]
    assert versions[2]["diff"] == [
        {"path": "fusion.open_above", "before": 0.9, "after": 0.7},
        {"path": f"sources.{PLAYBOOK}", "before": "disabled", "after": "enabled"},
    ]
    [close_record] = [r.payload for r in chain if r.kind == "position_close"]
    assert (close_record["actor"], close_record["asset"], close_record["portfolio"]) == (
        "bo",
        "A/B",
        "default",
    )
    applied = read_applied(engine)
    assert sorted(applied) == [1, 2, 3, 4] and all(a.applied for a in applied.values())
    history = client.get("/v1/control/versions", headers=headers("desk")).json()["items"]
    assert [(v["version"], v["applied"]["applied"]) for v in history] == [
        (4, True),
        (3, True),
        (2, True),
        (1, True),
    ]
    engine.dispose()


def test_a_flow_started_later_runs_the_stored_version_from_its_first_candle(desk) -> None:
    url, config_path, client, headers = desk
    change = {"disable": [PLAYBOOK], "fusion": {"open_above": 0.9}, "reason": "quiet period"}
    assert client.post("/v1/control", json=change, headers=headers("tuner")).status_code == 200
    collected: list[Any] = []
    done = threading.Event()
    flow = build_flow(
        ScriptSource([bar(k) for k in range(20)], [], done),
        config=load_config(config_path),
        outputs=FlowOutputs(collect=collected.extend),
        manual_actions=ManualActionInbox(url, poll_seconds=0.02, run_for=0),
    )
    run_main(flow)
    assert not [s for s in collected if isinstance(s, Signal)]  # not one, not even the first
    assert {f.decision for f in collected if isinstance(f, FusedSignal)} <= {Decision.IGNORE}
    [applied] = [a for a in collected if isinstance(a, ControlApplied)]
    assert (applied.version, applied.applied, applied.actor) == (1, True, "ana")


def test_a_flow_resumed_from_recovery_keeps_the_version_it_ran_with(desk, tmp_path: Path) -> None:
    url, config_path, client, headers = desk
    change = {"disable": [PLAYBOOK], "reason": "quiet period"}
    assert client.post("/v1/control", json=change, headers=headers("tuner")).status_code == 200
    recovery_dir = tmp_path / "recovery"
    recovery_dir.mkdir()
    init_db_dir(recovery_dir, 1)
    bars = [bar(k) for k in range(40)]
    stats = RunStats()
    collected: list[Any] = []
    flow = build_flow(
        TestingSource([*bars[:20], TestingSource.ABORT(), *bars[20:]]),
        config=load_config(config_path),
        outputs=FlowOutputs(collect=collected.extend, stats=stats),
        manual_actions=ManualActionInbox(url, poll_seconds=0.01, run_for=0),
    )
    recovery = RecoveryConfig(str(recovery_dir))
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    before = stats.counters.get("candles:1m", 0)
    assert 0 < before < 40
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)  # resumes; no re-read
    assert stats.counters["candles:1m"] >= 40
    assert [a.version for a in collected if isinstance(a, ControlApplied)] == [1]
    assert not [s for s in collected if isinstance(s, Signal)]  # off before and after the resume


def test_with_no_version_stored_the_control_step_changes_no_decision(tmp_path: Path) -> None:
    """The shipped month, with and without the inbox's control step: the same decisions and
    fills (version 0 is the configuration file, and holding data until it is known moves
    nothing in event time)."""
    url = str(tmp_path / "store.sqlite")
    open_store(url).dispose()

    def run(inbox: ManualActionInbox | None) -> tuple[list[Any], list[Any]]:
        out: list[Any] = []
        source = ReplaySource(
            [load_candles(shipped_path("btc-perp_1m_2022-01"))], batch_size=50_000
        )
        flow = build_flow(
            source,
            config=load_config(),
            outputs=FlowOutputs(collect=out.extend),
            manual_actions=inbox,
        )
        run_main(flow)
        fused = [(f.fused_id, f.decision, f.score) for f in out if isinstance(f, FusedSignal)]
        fills = [(f.fill_id, f.price, f.quantity) for f in out if isinstance(f, Fill)]
        return fused, fills

    plain = run(None)
    controlled = run(ManualActionInbox(url, poll_seconds=0.05, run_for=0))
    assert plain[0] and plain[1]
    assert controlled == plain
