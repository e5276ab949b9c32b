"""``quorum audit``: verify or inspect the hash-chained audit log.

``quorum audit verify [--store PATH_OR_URL]`` exits 0 when the chain is intact and 1 naming
the first bad record on any edit, deletion, reordering or truncation (2 when the store or its
audit log cannot be found). ``quorum audit tail [-n N]`` prints the last records.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

HELP = "verify the hash-chained audit log (exit 1 on tampering) or show its last records"

DEFAULT_STORE = "quorum.sqlite"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = sub.add_parser("verify", help="check every link of the chain and its head")
    tail = sub.add_parser("tail", help="print the last records of the chain")
    for action in (verify, tail):
        action.add_argument(
            "--store",
            default=DEFAULT_STORE,
            help=f"store file or SQLAlchemy URL (default: {DEFAULT_STORE})",
        )
    tail.add_argument("-n", type=int, default=20, help="how many records (default: 20)")


def _open(store: str) -> Engine:
    from connectors.store.audit import has_audit_tables
    from connectors.store.engine import open_store, url_for
    from flows.cli import UserError

    url = url_for(store)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise UserError(f"no store at {store}")
    engine = open_store(url, create=False)
    if not has_audit_tables(engine):
        engine.dispose()
        raise UserError(f"{store} has no audit log (tables audit_log and audit_head)")
    return engine


def _verify(args: argparse.Namespace) -> int:
    from connectors.store.audit import verify_store

    engine = _open(args.store)
    try:
        result = verify_store(engine)
    finally:
        engine.dispose()
    if result.ok:
        print(result.message)
        return 0
    print(f"audit chain BROKEN at {result.message}", file=sys.stderr)
    print(f"{result.checked} records verified before it", file=sys.stderr)
    return 1


def _tail(args: argparse.Namespace) -> int:
    from connectors.store.audit import tail
    from operators.audit.chain import canonical_json

    engine = _open(args.store)
    try:
        records = tail(engine, args.n)
    finally:
        engine.dispose()
    for rec in records:
        payload = canonical_json(rec.payload).decode()
        if len(payload) > 160:
            payload = payload[:157] + "..."
        print(f"{rec.seq:>8}  {rec.ts.isoformat()}  {rec.kind:<14} {rec.hash[:12]}  {payload}")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.audit_command == "verify":
        return _verify(args)
    return _tail(args)
