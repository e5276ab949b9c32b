"""``quorum dashboard``: start the Streamlit ops dashboard on a store (headless).

``quorum dashboard [--store PATH_OR_URL] [--host 127.0.0.1] [--port 8501] [--report FILE]``
replaces this process with ``streamlit run dashboards/app.py``; open the printed URL.
"""

from __future__ import annotations

import argparse
import os

BIND_HOST_ENV = "QUORUM_BIND_HOST"
HELP = "start the Streamlit ops dashboard (signals, charts, reviews, portfolio, health, audit)"

DEFAULT_STORE = "quorum.sqlite"


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
    parser.add_argument("--port", type=int, default=8501, help="port (default: 8501)")
    parser.add_argument("--report", metavar="FILE", help="JSON run report shown on 'Run report'")
    parser.add_argument(
        "--refresh",
        type=float,
        default=5.0,
        help="seconds between refreshes while a flow runs (default: 5)",
    )
    parser.add_argument(
        "--config",
        metavar="YAML",
        help="the run configuration the control room validates changes against",
    )


def streamlit_command(args: argparse.Namespace, python: str) -> list[str]:
    """The ``streamlit run`` command line for ``args`` (run with interpreter ``python``).

    >>> ns = argparse.Namespace(store="q.sqlite", host="127.0.0.1", port=8600, report=None,
    ...                         refresh=5.0)
    >>> command = streamlit_command(ns, "python3")
    >>> command[:4], command[-4:]
    (['python3', '-m', 'streamlit', 'run'], ['--store', 'q.sqlite', '--refresh', '5.0'])
    """
    from pathlib import Path

    import dashboards

    app = Path(dashboards.__file__).with_name("app.py")
    command = [
        python,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.headless=true",
        f"--server.address={args.host}",
        f"--server.port={args.port}",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--client.toolbarMode=viewer",
        "--",
        "--store",
        args.store,
        "--refresh",
        str(args.refresh),
    ]
    if args.report:
        command[-4:-4] = ["--report", args.report]
    if getattr(args, "config", None):
        command[-4:-4] = ["--config", args.config]
    return command


def main(args: argparse.Namespace) -> int:
    import os
    import sys
    from pathlib import Path

    from connectors.store.engine import url_for
    from flows.cli import UserError

    if not 0 < args.port < 65536:
        raise UserError(f"--port must be 1-65535, got {args.port}")
    if args.refresh <= 0:
        raise UserError(f"--refresh must be > 0 seconds, got {args.refresh}")
    url = url_for(args.store)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise UserError(f"no store at {args.store}; run the flow first or pass --store")
    if args.report and not Path(args.report).is_file():
        raise UserError(f"no report file at {args.report}")
    command = streamlit_command(args, sys.executable)
    print(f"Quorum dashboard on http://{args.host}:{args.port} (store {args.store})", flush=True)
    env = {**os.environ, "QUORUM_STORE": args.store}
    os.execve(sys.executable, command, env)  # replaces this process: signals go to Streamlit
    return 0  # pragma: no cover - execve does not return
