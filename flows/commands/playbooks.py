"""quorum playbooks: draft (model) or submit (file) a playbook; a person signs it off."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from connectors.store.playbook_drafts import Draft

HELP = "draft or submit a playbook: validated, evaluated alone, queued for a person's approval"

DEFAULT_DATA = "btc-perp_1m_2022-01"
DEFAULT_APPROVED = Path("playbooks-approved")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default="quorum.sqlite", help="store path or SQLAlchemy URL")
    parser.add_argument("--config", type=Path, help="YAML configuration (llm:, signals:)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    draft = sub.add_parser("draft", help="draft a playbook from a description (needs llm.model)")
    draft.add_argument("request", help='what the playbook should do, e.g. "long when RSI …"')
    submit = sub.add_parser("submit", help="queue a hand-written playbook YAML (no model)")
    submit.add_argument("file", type=Path, help="playbook YAML holding one playbook")
    for action in (draft, submit):
        action.add_argument(
            "--data",
            nargs="+",
            type=Path,
            metavar="FILE",
            help=f"data the draft is evaluated on (default: shipped {DEFAULT_DATA})",
        )
    listing = sub.add_parser("list", help="the approval queue")
    listing.add_argument("--status", choices=["invalid", "pending", "approved", "rejected"])
    for name, text in (("approve", "approve a pending draft"), ("reject", "reject a draft")):
        decide = sub.add_parser(name, help=text)
        decide.add_argument("draft_id")
        decide.add_argument("--by", required=True, help="who signs off (recorded and audited)")
        decide.add_argument("--comment", default="", help="why")
        if name == "approve":
            decide.add_argument(
                "--into",
                type=Path,
                default=DEFAULT_APPROVED,
                help=f"folder the approved YAML is written to (default {DEFAULT_APPROVED})",
            )


def _show(draft: Draft, console: Console) -> None:
    console.print(
        f"[bold]{draft.draft_id}[/] {draft.name or '(unnamed)'} — {draft.status} "
        f"(source {draft.source})",
        highlight=False,
    )
    for problem in draft.problems:
        console.print(f"  problem: {problem}", highlight=False)
    if draft.evaluation:
        ev = draft.evaluation
        console.print(
            f"  evaluated alone on {', '.join(ev['data'])}: {ev['signals']} signals, "
            f"{ev['resolved']} resolved",
            highlight=False,
        )
        for group in ev["groups"]:
            hit = "n/a" if group["hit_rate"] is None else f"{group['hit_rate']:.1%}"
            brier = "n/a" if group["brier"] is None else f"{group['brier']:.3f}"
            console.print(f"    {group['group']}: hit rate {hit}, Brier {brier}", highlight=False)


def main(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from rich.console import Console

    from connectors.files import shipped_path
    from connectors.llm.client import LlmError
    from connectors.store.engine import open_store
    from connectors.store.playbook_drafts import DraftDecisionError, DraftQueue
    from flows.cli import UserError, load_user_config
    from flows.playbook_drafts import approve, draft_with_model, queue_draft

    console = Console()
    config = load_user_config(args.config)
    engine = open_store(args.store)
    if args.action in ("draft", "submit"):
        data = list(args.data) if args.data else [shipped_path(DEFAULT_DATA)]
        for path in data:
            if not path.exists():
                raise UserError(f"data file {path} does not exist")
        if args.action == "draft":
            if not config.llm.enabled:
                raise UserError(
                    "drafting needs a language model (llm.model in --config); without one, "
                    "write the playbook YAML and queue it with: quorum playbooks submit FILE"
                )
            try:
                yaml_text, source = draft_with_model(args.request, config, engine)
            except LlmError as exc:
                raise UserError(f"the model could not draft it: {exc}") from None
            request = args.request
        else:
            if not args.file.is_file():
                raise UserError(f"playbook file {args.file} does not exist")
            yaml_text, source = args.file.read_text(encoding="utf-8"), f"file:{args.file.name}"
            request = f"submitted {args.file.name}"
        draft = queue_draft(
            engine,
            request=request,
            source=source,
            yaml_text=yaml_text,
            config=config,
            config_path=args.config,
            data=data,
        )
        _show(draft, console)
        if draft.status == "invalid":
            return 1
        console.print(
            f"queued for approval: quorum playbooks approve {draft.draft_id} --by NAME "
            "(nothing is enabled before a person signs it off)"
        )
        return 0
    if args.action == "list":
        for draft in DraftQueue(engine).list(args.status):
            _show(draft, console)
        return 0
    try:
        if args.action == "approve":
            draft, path = approve(
                engine, args.draft_id, by=args.by, comment=args.comment, into=args.into
            )
            console.print(
                f"approved {draft.draft_id} by {args.by}: written to {path}; enable it by "
                f"listing {args.into} under signals.rules.paths"
            )
        else:
            DraftQueue(engine).decide(
                args.draft_id, "rejected", by=args.by, comment=args.comment, now=datetime.now(UTC)
            )
            console.print(f"rejected {args.draft_id} by {args.by}")
    except DraftDecisionError as exc:
        raise UserError(str(exc)) from None
    return 0
