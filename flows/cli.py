"""The ``quorum`` console command: a thin dispatcher over :mod:`flows.commands`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from flows.commands import COMMANDS

if TYPE_CHECKING:
    from flows.config import QuorumConfig


class UserError(Exception):
    """A problem the user can fix (bad file, bad config): printed without a traceback."""


def load_user_config(path: Path | None) -> QuorumConfig:
    """The configuration for a command; an invalid one is a :class:`UserError`."""
    from flows.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        raise UserError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quorum",
        description="Quorum: streaming multi-way, multi-timeframe trading signals on Bytewax.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"flows.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"flows.commands.{name}":
                continue  # not built yet
            raise
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(command)
        command.set_defaults(_main=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_main", None):
        parser.print_help()
        return 2
    if os.environ.get("QUORUM_SENTRY_DSN"):  # error reporting is opt-in
        from connectors.sentry import init_error_reporting

        init_error_reporting()
    try:
        return int(args._main(args) or 0)
    except UserError as exc:
        print(f"quorum {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    # Import through the package so UserError is the same class the commands raise.
    from flows.cli import main as package_main

    sys.exit(package_main())
