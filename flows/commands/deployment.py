"""The deployment flags shared by ``quorum run`` and ``quorum live``: workers, cluster, recovery.

They override the ``cluster:`` and ``recovery:`` sections of the configuration
(:mod:`flows.cluster`); unset flags leave the configuration's values.

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> args = parser.parse_args(
...     ["--workers", "2", "--recovery-dir", "rec", "--snapshot-interval", "1"])
>>> overrides(args)
{'cluster': {'workers': 2}, 'recovery': {'directory': 'rec', 'snapshot_interval_seconds': 1.0}}
>>> overrides(parser.parse_args(["--processes", "h:1,h:2", "--process-id", "1"]))
{'cluster': {'processes': ['h:1', 'h:2'], 'process_id': 1}}
"""

from __future__ import annotations

import argparse
from typing import Any


def _addresses(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("deployment (Bytewax cluster and recovery)")
    group.add_argument("--workers", type=int, help="worker threads in this process (default 1)")
    group.add_argument(
        "--processes",
        type=_addresses,
        metavar="HOST:PORT,…",
        help="every process of a multi-process cluster, same list on each (with --process-id)",
    )
    group.add_argument("--process-id", type=int, help="this process's index in --processes")
    group.add_argument(
        "--recovery-dir",
        help="recovery directory: created on first use, resumed from on restart",
    )
    group.add_argument(
        "--snapshot-interval",
        type=float,
        metavar="SECONDS",
        help="seconds between recovery snapshots (default 10, Bytewax's epoch)",
    )


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Configuration overrides for the flags given (validated with the configuration)."""
    cluster = {
        key: value
        for key, value in (
            ("workers", args.workers),
            ("processes", args.processes),
            ("process_id", args.process_id),
        )
        if value is not None
    }
    recovery = {
        key: value
        for key, value in (
            ("directory", args.recovery_dir),
            ("snapshot_interval_seconds", args.snapshot_interval),
        )
        if value is not None
    }
    return {
        name: section for name, section in (("cluster", cluster), ("recovery", recovery)) if section
    }
