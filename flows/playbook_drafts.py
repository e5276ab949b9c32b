"""Playbook drafting end to end: draft (model) or submit (file) → validate → evaluate → queue.

A draft is evaluated *alone*: the flow replays shipped data with only the draft as a generator
(no other playbook, statistic or online model), and the draft's own hit rate, forward return
and Brier score are recorded with it. It then waits in the approval queue
(:class:`~connectors.store.playbook_drafts.DraftQueue`). Nothing is enabled until a person
approves it: approval (audited) writes the YAML into the approved folder, which a
configuration must list under ``signals.rules.paths`` for the flow to load it.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from connectors.llm.factory import build_assistant
from connectors.store.engine import open_store
from connectors.store.playbook_drafts import Draft, DraftQueue
from flows.config import QuorumConfig, load_config
from operators.explain.outputs import PlaybookDraftText
from operators.explain.playbook_draft import check_draft, draft_inputs
from operators.explain.prompts import DRAFT_PLAYBOOK
from operators.explain.redact import redact_text
from operators.signals.config import DEFAULT_PLAYBOOK_DIR

EXAMPLE_PLAYBOOK = DEFAULT_PLAYBOOK_DIR / "rsi_reversal.yaml"
ALONE = {
    "zscore": {"enabled": False},
    "breakout": {"enabled": False},
    "trend": {"enabled": False},
    "online": {"enabled": False},
}


def draft_with_model(request: str, config: QuorumConfig, engine: Engine) -> tuple[str, str]:
    """``(yaml, source)`` drafted by the configured model (raises ``LlmError`` on failure)."""
    assistant = build_assistant(config.llm, engine)
    inputs = draft_inputs(
        request, config.signals.timeframes, EXAMPLE_PLAYBOOK.read_text(encoding="utf-8")
    )
    answer = assistant.ask(DRAFT_PLAYBOOK, inputs, PlaybookDraftText).value
    return answer.yaml, f"llm:{assistant.model}"


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def evaluate_alone(
    yaml_text: str, name: str, data: Sequence[Path], config_path: Path | None
) -> dict[str, Any]:
    """The draft's figures when it is the flow's only generator, on ``data``."""
    from connectors.store.market import read_candles
    from connectors.store.signals import read_fused, read_signals
    from flows.evaluate import evaluate
    from flows.runner import run_replay

    with tempfile.TemporaryDirectory(prefix="quorum-draft-") as folder:
        playbook = Path(folder) / f"{name}.yaml"
        playbook.write_text(yaml_text, encoding="utf-8")
        overrides = {"signals": {"rules": {"paths": [str(playbook)]}, **ALONE}}
        config = load_config(config_path, overrides=overrides)
        store = Path(folder) / "evaluation.sqlite"
        run_replay(
            list(data),
            config=config,
            store_url=str(store),
            stage="signals",
            progress=False,
            command="playbooks draft",
        )
        engine = open_store(store)
        try:
            report = evaluate(read_signals(engine), read_fused(engine), read_candles(engine))
        finally:
            engine.dispose()
    rows = [r for r in report.table.to_dicts() if r["group"].startswith(f"rules:{name}@")]
    totals = {
        "signals": sum(r["signals"] for r in rows),
        "resolved": sum(r["resolved"] for r in rows),
    }
    return {
        "data": [p.name for p in data],
        **totals,
        "groups": [{k: _finite(v) for k, v in r.items()} for r in rows],
    }


def queue_draft(
    engine: Engine,
    *,
    request: str,
    source: str,
    yaml_text: str,
    config: QuorumConfig,
    config_path: Path | None,
    data: Sequence[Path],
    now: datetime | None = None,
) -> Draft:
    """Validate, evaluate when valid, and queue the draft for a person's approval."""
    check = check_draft(yaml_text, config.signals.timeframes)
    evaluation: dict[str, Any] = {}
    if check.valid and check.name is not None:
        evaluation = evaluate_alone(yaml_text, check.name, data, config_path)
    return DraftQueue(engine).add(
        request=redact_text(request).text,
        source=source,
        yaml=yaml_text,
        yaml_hash=check.yaml_hash,
        name=check.name,
        problems=check.problems,
        evaluation=evaluation,
        now=now or datetime.now(UTC),
    )


def approve(
    engine: Engine,
    draft_id: str,
    *,
    by: str,
    comment: str,
    into: Path,
    now: datetime | None = None,
) -> tuple[Draft, Path]:
    """Sign a pending draft off (audited) and write it into the approved folder."""
    when = now or datetime.now(UTC)
    draft = DraftQueue(engine).decide(draft_id, "approved", by=by, comment=comment, now=when)
    into.mkdir(parents=True, exist_ok=True)
    path = into / f"{draft.name}.yaml"
    header = (
        f"# Approved by {by} at {when.isoformat()} (draft {draft.draft_id}, "
        f"sha256 {draft.yaml_hash}; audit record playbook_signoff).\n"
    )
    path.write_text(header + draft.yaml.rstrip() + "\n", encoding="utf-8")
    return draft, path
