"""`quorum run` with a notifier configured: reviews and fills reach a signed webhook, off the hot
path, each send audited; without recipients nothing changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from connectors.notify.channels import verify_webhook_signature
from connectors.store.engine import open_store
from flows.cli import main as cli_main

pytestmark = pytest.mark.slow


def test_reviews_and_fills_of_the_main_job_reach_the_webhook(
    http_peer, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QUORUM_WEBHOOK_SECRET", "whk-flow-test")
    config = tmp_path / "notify.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "notifications": {
                    "link_base": "http://127.0.0.1:8501",
                    "recipients": [
                        {
                            "name": "desk-app",
                            "channel": "webhook",
                            "target": f"{http_peer.url}/quorum",
                            "events": ["review_pending", "fill"],
                            "max_per_minute": 10_000,
                        }
                    ],
                }
            }
        )
    )
    store, report = tmp_path / "q.sqlite", tmp_path / "report.json"
    args = [
        "run",
        "--quiet",
        "--config",
        str(config),
        "--store",
        str(store),
        "--report",
        str(report),
    ]
    assert cli_main([*args, "--plot", str(tmp_path / "eq.png")]) == 0

    bodies = [r.json() for r in http_peer.received]
    for request in http_peer.received:
        assert verify_webhook_signature(
            "whk-flow-test",
            request.headers["X-Quorum-Timestamp"],
            request.body,
            request.headers["X-Quorum-Signature"],
        )
    run = json.loads(report.read_text())
    reviews = [b for b in bodies if b["event"] == "review_pending"]
    fills = [b for b in bodies if b["event"] == "fill"]
    assert len(reviews) == run["decisions_by_band"]["review"] > 0
    assert len(fills) == run["fills"] > 0
    assert all(b["link"].startswith("http://127.0.0.1:8501/reviews?fused_id=") for b in reviews)
    assert run["flow"]["notifications"] == {"sent": len(bodies)}

    engine = open_store(store)
    with engine.connect() as conn:
        audited = conn.execute(
            text("SELECT COUNT(*) FROM audit_log WHERE kind = 'notification'")
        ).scalar_one()
    engine.dispose()
    assert audited == len(bodies)
    assert cli_main(["audit", "verify", "--store", str(store)]) == 0
