"""``quorum control show|set|history|revert|close-position``: the control room from a terminal.

``set`` changes fusion weights and bands (``--fusion open_above=0.8``, ``--fusion
priors.rules:x=2``), switches sources (``--disable rules:x``, ``--enable rules:x``) and risk
limits (``--risk max_open_positions=3``); the change is validated against the run's
configuration (``--config``), recorded as the next version in the store and audited (who: the
operating-system user, prefixed ``cli:``; why: ``--reason``). Running flows on that store apply
it at their next poll of the inbox, without a restart. ``revert N`` restores version N's values
as a new version (0: the configuration file); ``close-position ASSET`` closes a position by
hand (a reduce-only order through the guards and the router).
"""

from __future__ import annotations

import argparse
from typing import Any

HELP = "show, change, list or revert a running flow's configuration; close a position by hand"

DEFAULT_STORE = "quorum.sqlite"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="the configuration in force")
    change = sub.add_parser("set", help="change fusion, sources or risk limits (a new version)")
    history = sub.add_parser("history", help="every version: who, why, when, what changed")
    revert = sub.add_parser("revert", help="restore an earlier version's values (new version)")
    close = sub.add_parser("close-position", help="close a position by hand (audited)")
    for command in (show, change, history, revert, close):
        command.add_argument(
            "--store",
            default=DEFAULT_STORE,
            help=f"store file or SQLAlchemy URL (default: {DEFAULT_STORE})",
        )
    for command in (show, change, revert):
        command.add_argument(
            "--config", default=None, help="the run's configuration file (default: shipped)"
        )
    change.add_argument(
        "--fusion",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a FusionConfig field, e.g. open_above=0.8 or priors.rules:x=2 (repeatable)",
    )
    change.add_argument(
        "--risk",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a RiskConfig field, e.g. max_open_positions=3 (repeatable)",
    )
    change.add_argument("--disable", action="append", default=[], metavar="ORIGIN")
    change.add_argument("--enable", action="append", default=[], metavar="ORIGIN")
    change.add_argument("--change-id", default=None, help="idempotency key (a retry is safe)")
    revert.add_argument("version", type=int, help="the version to restore (0: the file)")
    close.add_argument("asset", help="the instrument, e.g. BTC/USDT")
    close.add_argument("--portfolio", default="default", help="portfolio id (default: default)")
    for command in (change, revert, close):
        command.add_argument("--reason", default="", help="why (recorded in the audit log)")


def parse_assignments(items: list[str], option: str) -> dict[str, Any]:
    """``FIELD=VALUE`` (YAML values; ``FIELD.KEY=VALUE`` sets one key of a dict field).

    >>> parse_assignments(["open_above=0.8", "priors.rules:x=2", "priors.stat=1.5"], "--fusion")
    {'open_above': 0.8, 'priors': {'rules:x': 2, 'stat': 1.5}}
    >>> parse_assignments(["open_above"], "--fusion")
    Traceback (most recent call last):
    ...
    ValueError: --fusion expects FIELD=VALUE, got 'open_above'
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{option} expects FIELD=VALUE, got {item!r}")
        value = yaml.safe_load(text)
        field, dot, key = name.strip().partition(".")
        if dot:
            out.setdefault(field, {})[key] = value
        else:
            out[field] = value
    return out


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def main(args: argparse.Namespace) -> int:
    from connectors.audit.config import AuditConfigError
    from connectors.store.engine import open_store
    from flows.cli import UserError
    from operators.control.settings import ControlError

    engine = open_store(args.store)
    try:
        return _ACTIONS[args.action](engine, args)
    except (ControlError, AuditConfigError) as exc:
        raise UserError(str(exc)) from None
    finally:
        engine.dispose()


def _base(args: argparse.Namespace) -> Any:
    from api.controls import control_base
    from flows.cli import UserError
    from flows.config import ConfigError

    try:
        return control_base(args.config)
    except ConfigError as exc:
        raise UserError(str(exc)) from None


def _show(engine: Any, args: argparse.Namespace) -> int:
    from connectors.store.control import latest_version, read_applied
    from operators.control.settings import settings_for
    from schemas.control import ControlOverrides

    base = _base(args)
    latest = latest_version(engine)
    overrides = ControlOverrides() if latest is None else latest.overrides
    settings = settings_for(base, overrides)
    if latest is None:
        print("version 0: the configuration file (no change made on this store)")
    else:
        applied = read_applied(engine).get(latest.version)
        status = "not taken by a flow yet" if applied is None else applied.detail
        state = "" if applied is None else ("applied: " if applied.applied else "REFUSED: ")
        print(f"version {latest.version} by {latest.actor} at {latest.ts:%Y-%m-%d %H:%M:%S}Z")
        print(f"  {state}{status}")
    fusion = settings.fusion
    print(f"fusion bands: open > {fusion.open_above}, review ≥ {fusion.review_from}")
    print(f"fusion priors: {fusion.priors}")
    print(
        f"fusion timeframe weights: { ({k.value: v for k, v in fusion.timeframe_weights.items()}) }"
    )
    for name, value in settings.risk.model_dump(mode="json").items():
        print(f"risk {name}: {value}")
    for origin in base.sources:
        print(f"source {origin}: {'OFF' if origin in settings.disabled else 'on'}")
    return 0


def _set(engine: Any, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from pydantic import ValidationError

    from connectors.store.control import record_change
    from flows.cli import UserError
    from schemas.control import ControlChange

    try:
        change = ControlChange(
            fusion=parse_assignments(args.fusion, "--fusion"),
            risk=parse_assignments(args.risk, "--risk"),
            disable=args.disable,
            enable=args.enable,
        )
    except (ValueError, ValidationError) as exc:
        raise UserError(str(exc)) from None
    version = record_change(
        engine,
        _base(args),
        change,
        actor=_actor(),
        reason=args.reason,
        via="cli",
        now=datetime.now(UTC),
        change_id=args.change_id,
    )
    _print_version(version)
    print("running flows apply it at their next poll")
    return 0


def _revert(engine: Any, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from connectors.store.control import revert_to

    version = revert_to(
        engine,
        _base(args),
        args.version,
        actor=_actor(),
        reason=args.reason,
        via="cli",
        now=datetime.now(UTC),
    )
    _print_version(version)
    print("running flows apply it at their next poll")
    return 0


def _history(engine: Any, args: argparse.Namespace) -> int:
    from connectors.store.control import read_applied, read_versions

    versions = read_versions(engine)
    if not versions:
        print("no change was made on this store (version 0: the configuration file)")
        return 0
    applied = read_applied(engine)
    for version in reversed(versions):
        _print_version(version)
        outcome = applied.get(version.version)
        if outcome is not None:
            print(f"  flow: {'applied' if outcome.applied else 'REFUSED'} — {outcome.detail}")
    return 0


def _print_version(version: Any) -> None:
    revert = "" if version.reverts_to is None else f" (revert to {version.reverts_to})"
    print(
        f"version {version.version}{revert} by {version.actor} via {version.via} at "
        f"{version.ts:%Y-%m-%d %H:%M:%S}Z: {version.reason or '(no reason given)'}"
    )
    for change in version.diff:
        print(f"  {change.path}: {change.before} → {change.after}")


def _close(engine: Any, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from api.controls import close_position
    from flows.cli import UserError

    try:
        outcome = close_position(
            engine,
            args.asset,
            portfolio=args.portfolio,
            actor=_actor(),
            reason=args.reason,
            via="cli",
            now=datetime.now(UTC),
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(
        f"close of {args.asset} ({args.portfolio}) requested by {outcome.action.actor} "
        f"(audit record {outcome.audit.seq}); running flows apply it at their next poll"
    )
    return 0


_ACTIONS = {
    "show": _show,
    "set": _set,
    "history": _history,
    "revert": _revert,
    "close-position": _close,
}
