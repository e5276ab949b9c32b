"""``quorum audit``: verify or inspect the hash-chained audit log.

``quorum audit verify [--store PATH_OR_URL]`` exits 0 when the chain is intact and 1 naming
the first bad record on any edit, deletion, reordering or truncation, when the chain does not
reach the latest checkpoint kept outside the store, or when the ledger and the audit log
disagree (2 when the store, its audit log or the key it needs cannot be found). The key and
the checkpoints come from the environment (``QUORUM_AUDIT_KEY`` / ``QUORUM_AUDIT_KEY_FILE``,
``QUORUM_AUDIT_CHECKPOINTS``, ``QUORUM_AUDIT_CHECKPOINT_DB``; see
:mod:`connectors.audit.config`); verify says whether the chain is keyed and what it could not
cover. With ``--config`` naming a configuration with a ``kafka:`` section (or ``--kafka
HOST:PORT``), the ``<prefix>.audit`` topic is one more checkpoint place: verify reads the
checkpoints back from it, ``checkpoint`` publishes one there. ``quorum audit checkpoint`` writes a
checkpoint of the head now; ``quorum audit tail [-n N]`` prints the last records.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from connectors.audit.config import AuditTrust
    from connectors.kafka.config import KafkaConfig

HELP = "verify the hash-chained audit log (exit 1 on tampering) or show its last records"

DEFAULT_STORE = "quorum.sqlite"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = sub.add_parser(
        "verify", help="check the chain, its head, the latest checkpoint and the ledger"
    )
    checkpoint = sub.add_parser(
        "checkpoint", help="write a (signed, with a key) checkpoint of the head outside the store"
    )
    tail = sub.add_parser("tail", help="print the last records of the chain")
    for action in (verify, checkpoint, tail):
        action.add_argument(
            "--store",
            default=DEFAULT_STORE,
            help=f"store file or SQLAlchemy URL (default: {DEFAULT_STORE})",
        )
    for action in (verify, checkpoint):
        action.add_argument(
            "--config", type=Path, help="run configuration whose kafka: section names the broker"
        )
        action.add_argument(
            "--kafka",
            metavar="HOST:PORT",
            help="Kafka bootstrap servers: the audit topic is a checkpoint place too",
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


def _kafka(args: argparse.Namespace) -> KafkaConfig | None:
    """The Kafka settings of ``--config`` / ``--kafka``, None when Kafka is off."""
    if getattr(args, "config", None) is None and getattr(args, "kafka", None) is None:
        return None
    from flows.cli import load_user_config

    kafka = load_user_config(args.config).kafka
    if args.kafka:
        kafka = kafka.model_copy(update={"bootstrap_servers": args.kafka})
    return kafka if kafka.enabled else None


def _trust(engine: Engine, args: argparse.Namespace) -> AuditTrust:
    from connectors.audit.config import AuditConfigError, AuditTrust
    from flows.cli import UserError

    try:
        return AuditTrust.for_engine(engine, kafka=_kafka(args))
    except AuditConfigError as exc:
        raise UserError(str(exc)) from None


def _verify(args: argparse.Namespace) -> int:
    from connectors.audit.checkpoints import CheckpointFormatError, CheckpointUnavailableError
    from connectors.store.audit import verify_store
    from flows.cli import UserError
    from operators.audit.chain import KeyRequiredError

    engine = _open(args.store)
    try:
        result = verify_store(engine, _trust(engine, args))
    except (KeyRequiredError, CheckpointFormatError, CheckpointUnavailableError) as exc:
        raise UserError(str(exc)) from None
    finally:
        engine.dispose()
    if result.ok:
        print(result.message)
        if result.anchored_seq is not None:
            print(f"matches the latest checkpoint (seq {result.anchored_seq})")
        for note in result.notes:
            print(f"note: {note}")
        return 0
    if result.bad_seq is not None:
        print(f"audit chain BROKEN at {result.message}", file=sys.stderr)
        print(f"{result.checked} records verified before it", file=sys.stderr)
    for finding in result.findings:
        print(f"ledger and audit log disagree: {finding}", file=sys.stderr)
    return 1


def _checkpoint(args: argparse.Namespace) -> int:
    from connectors.store.audit import read_head
    from flows.cli import UserError

    engine = _open(args.store)
    try:
        trust = _trust(engine, args)
        if not trust.writers:
            raise UserError("no checkpoint place is configured: set QUORUM_AUDIT_CHECKPOINTS")
        head = read_head(engine)
    finally:
        engine.dispose()
    count = 0 if head is None else head[0] + 1
    trust.checkpoint(head)
    signed = "unsigned" if trust.key is None else f"signed with key {trust.key.key_id}"
    places = ", ".join(w.where for w in trust.writers)
    print(f"checkpoint of {count} records ({signed}) written to {places}")
    return 0


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
    if args.audit_command == "checkpoint":
        return _checkpoint(args)
    return _tail(args)
