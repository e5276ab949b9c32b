"""``quorum trading halt|reduce|resume [--reason TEXT]``: the kill switch from a terminal.

Records the command in the store's audit log (who: the operating-system user running the
command, prefixed ``cli:``; why: ``--reason``), where every running flow on that store picks it
up at its next poll of the inbox and applies it in that batch: ``halt`` cancels working orders
and refuses new entries, ``reduce`` lets positions only shrink, ``resume`` trades again.
"""

from __future__ import annotations

import argparse

HELP = "halt, reduce or resume trading in every running flow on a store (audited)"

DEFAULT_STORE = "quorum.sqlite"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "command",
        choices=("halt", "reduce", "resume"),
        help="halt: cancel working orders, no entries; reduce: only shrink; resume: trade",
    )
    parser.add_argument("--reason", default="", help="why (recorded in the audit log)")
    parser.add_argument(
        "--store",
        default=DEFAULT_STORE,
        help=f"store file or SQLAlchemy URL (default: {DEFAULT_STORE})",
    )


def main(args: argparse.Namespace) -> int:
    import getpass
    from datetime import UTC, datetime

    from api.controls import set_trading_state
    from connectors.audit.config import AuditConfigError
    from connectors.store.engine import open_store
    from flows.cli import UserError

    engine = open_store(args.store)
    try:
        outcome = set_trading_state(
            engine,
            args.command,
            actor=f"cli:{getpass.getuser()}",
            reason=args.reason,
            via="cli",
            now=datetime.now(UTC),
        )
    except AuditConfigError as exc:
        raise UserError(str(exc)) from None
    finally:
        engine.dispose()
    action = outcome.action
    print(
        f"trading {action.state.value if action.state else '?'} requested by {action.actor} "
        f"(audit record {outcome.audit.seq}); running flows apply it at their next poll"
    )
    return 0
