"""``quorum serve``: run the signal API on a store, or manage its API keys.

``quorum serve [--store PATH_OR_URL] [--host 127.0.0.1] [--port 8000]`` starts the API with
uvicorn. Key management (then the server does not start):

* ``quorum serve --create-key NAME --scopes signals:read review`` prints the new key once;
* ``quorum serve --list-keys`` lists keys (never their secrets);
* ``quorum serve --revoke-key KEY_ID`` revokes one for good.
"""

from __future__ import annotations

import argparse
import os

BIND_HOST_ENV = "QUORUM_BIND_HOST"
CORS_ENV = "QUORUM_CORS_ORIGINS"
RATE_STORAGE_ENV = "QUORUM_RATE_LIMIT_STORAGE"
HELP = "serve the signal API (FastAPI) on a store, or create/list/revoke its API keys"

DEFAULT_STORE = "quorum.sqlite"
SCOPE_NAMES = ("signals:read", "review", "trading:control", "admin")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=DEFAULT_STORE,
        help=f"store file or SQLAlchemy URL (default: {DEFAULT_STORE})",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get(BIND_HOST_ENV, "127.0.0.1"),
        help=f"address to bind (default: ${BIND_HOST_ENV} or 127.0.0.1; the image sets 0.0.0.0)",
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument(
        "--rate", type=float, default=20.0, help="requests per second per key (default: 20)"
    )
    parser.add_argument(
        "--burst", type=float, default=120.0, help="burst size per key (default: 120)"
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[o for o in os.environ.get(CORS_ENV, "").split(",") if o.strip()],
        metavar="ORIGIN",
        help=f"allow browser calls from this origin (repeatable; default: ${CORS_ENV}, "
        "comma-separated, else none: CORS is off)",
    )
    parser.add_argument(
        "--rate-limit-storage",
        default=os.environ.get(RATE_STORAGE_ENV) or None,
        metavar="URI",
        help=f"share rate limits between API replicas, e.g. redis://127.0.0.1:6379/0 "
        f"(default: ${RATE_STORAGE_ENV}, else per process)",
    )
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument("--create-key", metavar="NAME", help="create a key owned by NAME, print it")
    keys.add_argument("--list-keys", action="store_true", help="list the keys of the store")
    keys.add_argument("--revoke-key", metavar="KEY_ID", help="revoke the key with this id")
    parser.add_argument(
        "--scopes",
        nargs="+",
        choices=SCOPE_NAMES,
        default=["signals:read"],
        metavar="SCOPE",
        help=f"scopes of the created key: {', '.join(SCOPE_NAMES)} (default: signals:read)",
    )


def _create(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from api.seats import create_seat_key
    from connectors.store.engine import open_store
    from flows.cli import UserError

    engine = open_store(args.store)
    try:
        # a billing customer gets a key only while the plan in force has a seat free
        created = create_seat_key(engine, args.create_key, args.scopes, now=datetime.now(UTC))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    finally:
        engine.dispose()
    scopes = " ".join(sorted(s.value for s in created.scopes))
    print(f"created key {created.key_id} for {created.owner} with scopes: {scopes}")
    print("store it now, it is not shown again:")
    print(created.key)
    return 0


def _list(args: argparse.Namespace) -> int:
    from api.keys import list_keys
    from connectors.store.engine import open_store
    from schemas.common import ns_to_datetime

    engine = open_store(args.store)
    try:
        keys = list_keys(engine)
    finally:
        engine.dispose()
    if not keys:
        print("no API keys; create one with: quorum serve --create-key NAME --scopes ...")
    for key in keys:
        state = "revoked" if key.revoked else "active"
        created = ns_to_datetime(key.created_at_ns).isoformat(timespec="seconds")
        print(f"{key.key_id}  {state:<8} {created}  {key.owner:<24} {' '.join(key.scopes)}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from api.keys import revoke_key
    from connectors.store.engine import open_store
    from flows.cli import UserError

    engine = open_store(args.store)
    try:
        revoked = revoke_key(engine, args.revoke_key)
    finally:
        engine.dispose()
    if not revoked:
        raise UserError(f"no active key with id {args.revoke_key!r} (see --list-keys)")
    print(f"revoked key {args.revoke_key}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings
    from flows.cli import UserError

    if not 0 < args.port < 65536:
        raise UserError(f"--port must be 1-65535, got {args.port}")
    if args.rate <= 0 or args.burst < 1:
        raise UserError(f"--rate must be > 0 and --burst ≥ 1, got {args.rate} and {args.burst}")
    settings = ApiSettings(
        store=args.store,
        rate_per_second=args.rate,
        rate_capacity=args.burst,
        cors_origins=tuple(o.strip() for o in args.cors_origin),
        rate_limit_storage=args.rate_limit_storage,
    )
    try:
        app = create_app(settings)
    except ValueError as exc:  # e.g. a rate-limit storage that cannot be reached
        raise UserError(str(exc)) from None
    print(f"Quorum API on http://{args.host}:{args.port} (docs at /docs), store {args.store}")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.create_key is not None:
        return _create(args)
    if args.list_keys:
        return _list(args)
    if args.revoke_key is not None:
        return _revoke(args)
    return _serve(args)
