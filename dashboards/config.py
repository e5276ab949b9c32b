"""Where the dashboard reads from: store URL, run-report file and refresh interval.

Each comes from a command-line option after ``--`` (``streamlit run dashboards/app.py --
--store out/q.sqlite``), else an environment variable, else a default:

=============  ===================  ===============
option         environment          default
=============  ===================  ===============
``--store``    ``QUORUM_STORE``     quorum.sqlite
``--report``   ``QUORUM_REPORT``    (none)
``--refresh``  ``QUORUM_REFRESH``   5 (seconds)
``--config``   ``QUORUM_CONFIG``    (none: the shipped run configuration)
(none)         ``QUORUM_DASHBOARD_AUTH_HEADER``  (none: API-key login)
=============  ===================  ===============

``QUORUM_DASHBOARD_AUTH_HEADER`` names a header a trusted reverse proxy sets to the signed-in
user (e.g. ``X-Forwarded-User``); only set it when every request comes through that proxy,
since anyone reaching the dashboard directly could send the header themselves.

>>> resolve(["--store", "a.sqlite"], {"QUORUM_STORE": "b.sqlite"}).store
'a.sqlite'
>>> resolve([], {"QUORUM_STORE": "b.sqlite", "QUORUM_REFRESH": "2.5"}).refresh_seconds
2.5
>>> resolve([], {}).report is None
True
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STORE = "quorum.sqlite"
DEFAULT_REFRESH_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    store: str
    report: Path | None
    refresh_seconds: float
    auth_header: str | None = None
    config: str | None = None
    """The run configuration the control room validates changes against."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--store")
    parser.add_argument("--report", type=Path)
    parser.add_argument("--refresh", type=float)
    parser.add_argument("--config")
    return parser


def resolve(argv: Sequence[str], environ: Mapping[str, str]) -> DashboardConfig:
    """Options win over the environment, which wins over the defaults."""
    args, _unknown = _parser().parse_known_args(list(argv))
    store = args.store or environ.get("QUORUM_STORE") or DEFAULT_STORE
    report_text = environ.get("QUORUM_REPORT")
    report = args.report or (Path(report_text) if report_text else None)
    refresh = args.refresh
    if refresh is None:
        try:
            refresh = float(environ.get("QUORUM_REFRESH", DEFAULT_REFRESH_SECONDS))
        except ValueError:
            refresh = DEFAULT_REFRESH_SECONDS
    return DashboardConfig(
        store=store,
        report=report,
        refresh_seconds=max(0.5, refresh),
        auth_header=environ.get("QUORUM_DASHBOARD_AUTH_HEADER") or None,
        config=args.config or environ.get("QUORUM_CONFIG") or None,
    )


def current() -> DashboardConfig:
    """The configuration of this process (its arguments and environment)."""
    return resolve(sys.argv[1:], os.environ)
