"""quorum explain: explain stored decisions (REVIEW by default), off the trading hot path."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "explain stored decisions (template, or the configured language model) and store them"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default="quorum.sqlite", help="store path or SQLAlchemy URL")
    parser.add_argument("--config", type=Path, help="YAML configuration (its llm: section)")
    parser.add_argument("--id", dest="ids", nargs="+", metavar="FUSED_ID", help="these decisions")
    parser.add_argument(
        "--decisions",
        nargs="+",
        default=["review"],
        choices=["open", "review", "ignore"],
        help="bands to explain when no --id is given (default: review)",
    )
    parser.add_argument("--again", action="store_true", help="re-explain already explained ones")


def main(args: argparse.Namespace) -> int:
    from rich.console import Console
    from sqlalchemy import select

    from connectors.store.engine import open_store
    from connectors.store.signals import fused_signals
    from flows.cli import load_user_config
    from flows.explain import (
        build_explainer,
        daily_summary,
        decisions_to_explain,
        explain_all,
        render_daily_summary,
    )

    console = Console()
    config = load_user_config(args.config)
    engine = open_store(args.store)
    if args.ids:
        ids = list(args.ids)
    elif args.again:
        with engine.connect() as conn:
            ids = list(
                conn.execute(
                    select(fused_signals.c.fused_id)
                    .where(fused_signals.c.decision.in_(args.decisions))
                    .order_by(fused_signals.c.ts)
                ).scalars()
            )
    else:
        ids = decisions_to_explain(engine, args.decisions)
    explained = explain_all(engine, build_explainer(config.llm, engine), ids)
    missing = len(ids) - len(explained)
    if missing:
        console.print(f"[yellow]{missing} id(s) not in the store[/]")
    render_daily_summary(daily_summary(explained), console)
    return 1 if args.ids and missing else 0
