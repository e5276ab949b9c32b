"""Subcommands of ``quorum``: one module each, exposing ``HELP``, ``configure`` and ``main``.

Modules must stay cheap to import (no heavy imports at module level): ``quorum --help`` imports
all of them to list their help lines.
"""

COMMANDS: tuple[str, ...] = (
    "run",
    "features",
    "data",
    "evaluate",
    "audit",
    "trading",
    "control",
    "live",
    "simulator",
    "serve",
    "dashboard",
    "bench",
    "notify",
    "schemas",
    "kafka",
    "billing",
    "explain",
    "playbooks",
)
