"""Playbook drafting: model or file → schema → evaluated alone → queued → audited sign-off."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from connectors.files.shipped import DATA_DIR
from connectors.store.audit import iter_chain, verify_store
from connectors.store.engine import open_store
from connectors.store.playbook_drafts import DraftDecisionError, DraftQueue
from flows.cli import main as cli
from flows.config import load_config
from flows.playbook_drafts import approve, draft_with_model, queue_draft
from operators.signals.playbook_loader import load_playbooks
from tests.llm.openai_server import OpenAiCompatibleServer, completion

DIP = """\
name: rsi_dip_long
description: RSI(14) back above 35 on 15m
direction: long
timeframe: 15m
when: rsi_14 crosses_above 35
confidence: 0.4
expires_after: 8
"""
NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def week(tmp_path_factory) -> Path:
    """The first week of the shipped BTC month (rows unchanged)."""
    frame = pl.read_parquet(DATA_DIR / "btc-perp_1m_2022-01.parquet").head(7 * 1440)
    path = tmp_path_factory.mktemp("data") / "btc-week.parquet"
    frame.write_parquet(path)
    return path


def _audit(engine, kind):
    return [r.payload for r in iter_chain(engine) if r.kind == kind]


def test_submitted_playbook_is_evaluated_alone_queued_and_signed_off(week, tmp_path):
    engine = open_store(tmp_path / "store.sqlite")
    draft = queue_draft(
        engine,
        request="submitted dip.yaml",
        source="file:dip.yaml",
        yaml_text=DIP,
        config=load_config(),
        config_path=None,
        data=[week],
        now=NOW,
    )
    assert (draft.status, draft.name, draft.problems) == ("pending", "rsi_dip_long", [])
    evaluation = draft.evaluation
    assert evaluation["data"] == ["btc-week.parquet"] and evaluation["signals"] > 0
    assert [g["group"] for g in evaluation["groups"]] == ["rules:rsi_dip_long@15m"]
    assert _audit(engine, "playbook_draft")[0]["status"] == "pending"
    with pytest.raises(DraftDecisionError, match="needs the name"):
        approve(engine, draft.draft_id, by=" ", comment="", into=tmp_path / "approved", now=NOW)
    approved, path = approve(
        engine, draft.draft_id, by="ana", comment="looks sane", into=tmp_path / "approved", now=NOW
    )
    assert approved.status == "approved" and approved.decided_by == "ana"
    assert path.read_text().startswith("# Approved by ana at 2026-01-05T12:00:00+00:00")
    assert [p.name for p in load_playbooks([path.parent])] == ["rsi_dip_long"]
    [signoff] = _audit(engine, "playbook_signoff")
    assert (signoff["by"], signoff["decision"], signoff["yaml_hash"]) == (
        "ana",
        "approved",
        draft.yaml_hash,
    )
    with pytest.raises(DraftDecisionError, match="is approved"):
        DraftQueue(engine).decide(draft.draft_id, "rejected", by="bo", comment="", now=NOW)
    assert verify_store(engine).ok
    assert "rsi_dip_long" not in {p.name for p in load_config().signals.playbooks()}


def _llm_config(server, tmp_path):
    path = tmp_path / "llm.yaml"
    path.write_text(
        f"llm:\n  model: local-model\n  base_url: {server.base_url}\n"
        "  max_retries: 0\n  timeout_seconds: 5\n"
    )
    return path


def test_model_draft_is_validated_before_anything_else(week, tmp_path):
    engine = open_store(tmp_path / "store.sqlite")
    hostile = (
        "name: pwn\ndirection: long\ntimeframe: 15m\n"
        "when: !!python/object/apply:os.system ['touch pwned']\nconfidence: 0.4\n"
    )
    with OpenAiCompatibleServer(lambda _r: completion(json.dumps({"yaml": hostile}))) as server:
        config = load_config(_llm_config(server, tmp_path))
        yaml_text, source = draft_with_model(
            "long on RSI dips, contact ana@example.com", config, engine
        )
        sent = server.requests[0]["messages"][1]["content"]
    assert "ana@example.com" not in sent and "[REDACTED:email]" in sent
    draft = queue_draft(
        engine,
        request="long on RSI dips",
        source=source,
        yaml_text=yaml_text,
        config=config,
        config_path=None,
        data=[week],
        now=NOW,
    )
    assert draft.status == "invalid" and draft.evaluation == {}
    assert draft.problems and not (Path.cwd() / "pwned").exists()
    with pytest.raises(DraftDecisionError, match="is invalid"):
        approve(engine, draft.draft_id, by="ana", comment="", into=tmp_path / "a", now=NOW)
    assert not (tmp_path / "a").exists()


def test_cli_draft_with_a_model_then_reject(week, tmp_path, capsys):
    store = tmp_path / "store.sqlite"
    with OpenAiCompatibleServer(
        lambda _r: completion(json.dumps({"yaml": DIP, "notes": "RSI threshold 35 assumed"}))
    ) as server:
        config = _llm_config(server, tmp_path)
        code = cli(
            [
                "playbooks",
                "--store",
                str(store),
                "--config",
                str(config),
                "draft",
                "long when RSI 14 climbs back above 35 on 15m",
                "--data",
                str(week),
            ]
        )
    out = capsys.readouterr().out
    assert code == 0 and "pending (source llm:local-model)" in out
    engine = open_store(store)
    [draft] = DraftQueue(engine).list("pending")
    assert [c["template"] for c in _audit(engine, "llm_call")] == ["draft_playbook"]
    assert (
        cli(
            [
                "playbooks",
                "--store",
                str(store),
                "reject",
                draft.draft_id,
                "--by",
                "bo",
                "--comment",
                "too loose",
            ]
        )
        == 0
    )
    assert DraftQueue(engine).get(draft.draft_id).status == "rejected"
    assert _audit(engine, "playbook_signoff")[0]["decision"] == "rejected"


def test_cli_draft_without_a_model_says_how_to_submit(tmp_path, capsys):
    code = cli(["playbooks", "--store", str(tmp_path / "s.sqlite"), "draft", "long on dips"])
    assert code == 2
    assert "quorum playbooks submit FILE" in capsys.readouterr().err
