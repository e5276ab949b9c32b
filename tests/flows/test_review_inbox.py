"""A person's approval reaches a running flow: review queue → audit log → trading core."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bytewax.testing import run_main

from connectors.files import load_candles, shipped_path
from connectors.replay import ReplaySource
from connectors.store.audit import append_events, verify_store
from connectors.store.engine import open_store
from connectors.store.inbox import ManualActionInbox
from flows.config import load_config
from flows.pipeline import FlowOutputs, build_flow
from operators.audit.chain import AuditEvent
from schemas.operations import ManualActionKind, ManualActionResult
from schemas.signals import Decision, FusedSignal
from schemas.trading import OrderIntent


def _run(config, store_url: str | None = None, stage="full", inbox=None) -> list[object]:
    collected: list[object] = []
    source = ReplaySource([load_candles(shipped_path("btc-perp_1m_2022-01"))], batch_size=50_000)
    flow = build_flow(
        source,
        config=config,
        outputs=FlowOutputs(collect=collected.extend),
        stage=stage,
        manual_actions=inbox,
    )
    run_main(flow)
    return collected


def test_an_approved_review_is_carried_out_by_the_trading_core(tmp_path: Path) -> None:
    # The decision may reach the core before or after the market passes its time (two sources,
    # no order between them): either way it is applied, so the review must still be queued.
    month = 40 * 86_400
    trading = {"review_policy": "queue", "assets": ["BTC-PERP"], "review_ttl_seconds": month}
    config = load_config(overrides={"trading": trading})
    fused = [x for x in _run(config, stage="signals") if isinstance(x, FusedSignal)]
    review = next(f for f in fused if f.decision is Decision.REVIEW)

    url = str(tmp_path / "store.sqlite")
    engine = open_store(url)
    action = {
        "action_id": f"review-{review.fused_id}",
        "kind": "approve_review",
        "actor": "ana@desk",
        "ts": (review.timestamp + timedelta(minutes=1)).isoformat(),
        "fused_id": review.fused_id,
        "reason": "looks right",
    }
    append_events(engine, [AuditEvent("review_decision", review.timestamp, {"action": action})])

    inbox = ManualActionInbox(url, start_after=-1, poll_seconds=0.01, run_for=0)
    events = _run(config, inbox=inbox)

    results = [e for e in events if isinstance(e, ManualActionResult)]
    assert [(r.action.kind, r.action.actor, r.applied) for r in results] == [
        (ManualActionKind.APPROVE_REVIEW, "ana@desk", True)
    ]
    intents = [e for e in events if isinstance(e, OrderIntent) and e.fused_id == review.fused_id]
    assert len(intents) == 1
    assert verify_store(engine).ok
    engine.dispose()


def test_without_a_decision_a_queued_review_never_trades() -> None:
    config = load_config(overrides={"trading": {"review_policy": "queue"}})
    events = _run(config)
    assert not [e for e in events if isinstance(e, OrderIntent)]
    assert not [e for e in events if isinstance(e, ManualActionResult)]
