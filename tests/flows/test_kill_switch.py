"""The kill switch end to end: a person halts trading through the API while a flow runs; the
audit log carries it to the flow's inbox and the trading core cancels the working order and
refuses the next entry; `quorum trading resume` lets it trade again. Who and why are audited.

The market source stands for time passing: it emits candles, presses the button (through the
API or the CLI) at a given point, then waits until the trading core's output shows the command
applied before going on, so the test never depends on how fast the inbox polls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bytewax.operators as op
import numpy as np
import pytest
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.testing import TestingSink, run_main
from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import create_key
from api.settings import ApiSettings
from connectors.store.audit import iter_chain
from connectors.store.engine import open_store
from connectors.store.inbox import ManualActionInbox
from flows.cli import main
from operators.execution.operator import trading_core
from operators.execution.trading_config import TradingConfig
from schemas.batches import FeatureBatch
from schemas.operations import ManualActionResult
from schemas.trading import Order, OrderIntent, OrderStatus, RiskDecision, RiskReason, TradingState
from tests.execution.test_engine import THIN, candles, signal

DEADLINE_SECONDS = 60.0
CONFIG = TradingConfig.model_validate(
    {
        "assets": ["A/B"],
        "execution": THIN,
        "atr_feature": "atr",
        "atr_timeframe": "1m",
        "signal_wait_seconds": 1,
    }
)


class Script(StatefulSourcePartition[Any, int]):
    """Items in order; at a ``press`` entry it calls the press, then waits for ``applied``."""

    def __init__(
        self, steps: list[Any], applied: list[threading.Event], done: threading.Event
    ) -> None:
        self.steps, self.applied, self.done = steps, applied, done
        self.index, self.waiting = 0, None

    def next_batch(self) -> list[Any]:
        if self.waiting is not None:
            event, deadline = self.waiting
            if not event.is_set():
                if time.monotonic() > deadline:
                    raise TimeoutError("the trading core never applied the command")
                return []
            self.waiting = None
        if self.index >= len(self.steps):
            self.done.set()
            raise StopIteration
        step = self.steps[self.index]
        self.index += 1
        if callable(step):
            step()
            self.waiting = (self.applied.pop(0), time.monotonic() + DEADLINE_SECONDS)
            return []
        return [step]

    def snapshot(self) -> int:
        return self.index


class ScriptSource(FixedPartitionedSource[Any, int]):
    def __init__(
        self, steps: list[Any], applied: list[threading.Event], done: threading.Event
    ) -> None:
        self.steps, self.applied, self.done = steps, applied, done

    def list_parts(self) -> list[str]:
        return ["script"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> Script:
        return Script(self.steps, self.applied, self.done)


class StoppingInbox(ManualActionInbox):
    """The inbox, ending once the script has run out (every press was applied by then)."""

    def __init__(self, url: str, done: threading.Event, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.done = done

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> Any:
        part = super().build_part(step_id, for_part, resume_state)
        poll = part.next_batch

        def next_batch() -> list[Any]:
            if self.done.is_set():
                raise StopIteration
            return poll()

        part.next_batch = next_batch
        return part


def run_flow(url: str, steps: list[Any], presses: int) -> list[Any]:
    applied = [threading.Event() for _ in range(presses)]
    seen = list(applied)

    def watch(_step: str, item: Any) -> None:
        if isinstance(item, ManualActionResult):
            seen.pop(0).set()

    done = threading.Event()
    inbox = StoppingInbox(url, done, poll_seconds=0.02, controls=False)
    flow = Dataflow("kill_switch")
    market = op.input("market", flow, ScriptSource(steps, applied, done))
    people = op.input("people", flow, inbox)
    out = trading_core("trading", op.merge("in", market, people), CONFIG)
    op.inspect("watch", out, watch)
    collected: list[Any] = []
    op.output("out", out, TestingSink(collected))
    run_main(flow)
    return collected


@pytest.fixture
def api(tmp_path: Path) -> tuple[str, TestClient, Callable[[str], dict[str, str]]]:
    url = str(tmp_path / "store.sqlite")
    engine = open_store(url)
    keys = {
        "desk": create_key(engine, "ana", ["trading:control"]).key,
        "reader": create_key(engine, "bo", ["signals:read", "review"]).key,
    }
    settings = ApiSettings(store=url, now=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    client = TestClient(create_app(settings, engine=engine))
    return url, client, lambda who: {"X-API-Key": keys[who]}


def test_only_the_trading_control_scope_may_press_it(api) -> None:
    _url, client, headers = api
    body = {"command": "halt", "reason": "exchange incident"}
    assert client.post("/v1/trading/state", json=body).status_code == 401
    assert client.post("/v1/trading/state", json=body, headers=headers("reader")).status_code == 403
    blank = client.post(
        "/v1/trading/state", json={"command": "halt", "reason": "  "}, headers=headers("desk")
    )
    assert blank.status_code == 422


def test_halt_through_the_api_reaches_the_running_flow_and_resume_through_the_cli(
    api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, client, headers = api
    thin = candles("A/B", [100.0] * 40, volume=20.0)  # fills a little per bar: orders keep working

    def bars(first: int, last: int) -> list[Any]:
        out: list[Any] = []
        for i in range(first, last):
            bar = thin.take(np.arange(i, i + 1))
            out += [bar, FeatureBatch(bar, {"atr": np.array([1.0])})]
        return out

    def halt() -> None:
        response = client.post(
            "/v1/trading/state",
            json={"command": "halt", "reason": "exchange incident"},
            headers=headers("desk"),
        )
        assert response.status_code == 200, response.text

    def resume() -> None:
        monkeypatch.setattr("getpass.getuser", lambda: "ops")
        assert main(["trading", "resume", "--reason", "all clear", "--store", url]) == 0

    steps = [
        *bars(0, 4),
        signal(4),  # enters long; the thin market keeps the order working
        *bars(4, 8),
        halt,
        *bars(8, 10),
        signal(10, direction="short", fid="blocked"),
        *bars(10, 14),
        resume,
        *bars(14, 18),
        signal(18, direction="short", fid="after"),
        *bars(18, 40),
    ]
    events = run_flow(url, steps, presses=2)

    results = [e for e in events if isinstance(e, ManualActionResult)]
    assert [(r.action.state, r.action.actor, r.action.reason, r.applied) for r in results] == [
        (TradingState.HALTED, "ana", "exchange incident", True),
        (TradingState.ACTIVE, "cli:ops", "all clear", True),
    ]
    halted_at = events.index(results[0])
    cancelled = [
        e for e in events[halted_at:] if isinstance(e, Order) and e.status is OrderStatus.CANCELLED
    ]
    assert cancelled and "trading halted" in cancelled[0].reason
    blocked = next(e for e in events if isinstance(e, OrderIntent) and e.fused_id == "blocked")
    refused = next(
        e for e in events if isinstance(e, RiskDecision) and e.intent_id == blocked.intent_id
    )
    assert refused.reason is RiskReason.HALTED and not refused.approved
    assert any(isinstance(e, OrderIntent) and e.fused_id == "after" for e in events)

    engine = open_store(url)
    controls = [r for r in iter_chain(engine) if r.kind == "trading_control"]
    engine.dispose()
    assert [(r.payload["command"], r.payload["actor"], r.payload["via"][:4]) for r in controls] == [
        ("halt", "ana", "api:"),
        ("resume", "cli:ops", "cli"),
    ]
    assert "requested by cli:ops" in capsys.readouterr().out
