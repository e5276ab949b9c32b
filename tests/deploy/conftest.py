"""Helpers for the deployment tests: run ``quorum`` as a subprocess and compare stores."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import inspect, select

from connectors.files import shipped_path
from connectors.store.engine import metadata, open_store

ROOT = Path(__file__).resolve().parents[2]

RUN_SPECIFIC_TABLES = frozenset({"runs", "audit_writers", "run_shares"})
"""Tables that describe a run itself (ids, wall-clock times), not what it computed."""
RUN_SPECIFIC_COLUMNS = frozenset({"run_id", "recorded_at", "id"})
"""Columns that differ between two runs computing the same thing."""

REPORT_KEYS_OF_THE_FLOW = frozenset({"run_id", "flow"})
"""Report keys that describe the process (its timings), not the run."""
FLOW_TIMINGS = frozenset({"elapsed_s", "records_per_s"})
"""The flow summary's keys that time the process rather than count the run."""


def quorum(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m flows.cli ARGS`` in the repository root, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_quorum(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def store_contents(url: str) -> dict[str, list[str]]:
    """Every table's rows, sorted, without the columns that name or time the run itself."""
    engine = open_store(url)
    try:
        names = set(inspect(engine).get_table_names())
        contents: dict[str, list[str]] = {}
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                if table.name not in names or table.name in RUN_SPECIFIC_TABLES:
                    continue
                columns = [c for c in table.columns if c.name not in RUN_SPECIFIC_COLUMNS]
                rows = conn.execute(select(*columns)).all()
                contents[table.name] = sorted(map(repr, rows))
    finally:
        engine.dispose()
    return contents


def report_body(path: Path) -> dict[str, Any]:
    report = json.loads(path.read_text())
    return {k: v for k, v in report.items() if k not in REPORT_KEYS_OF_THE_FLOW}


def flow_counts(path: Path) -> dict[str, Any]:
    """The report's flow summary without its timings: what the whole run counted."""
    flow = json.loads(path.read_text())["flow"]
    return {k: v for k, v in flow.items() if k not in FLOW_TIMINGS}


def basket_args(out: Path, name: str, config: Path) -> list[str]:
    """``quorum run`` of the 10-pair basket with ``config``, writing into ``out``."""
    return [
        "run",
        "--quiet",
        "--data",
        str(shipped_path("alts-btc_5m_2018-01")),
        "--config",
        str(config),
        "--store",
        str(out / "store.sqlite"),
        "--report",
        str(out / f"{name}.json"),
        "--plot",
        str(out / f"{name}.png"),
    ]


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_ports(n: int) -> list[int]:
    """``n`` loopback ports free now, below the kernel's ephemeral range where it is known: a
    port handed out by the kernel (``bind(0)``) can be taken by any outgoing connection's local
    end between this check and the cluster's own bind, which hangs the cluster's handshake."""
    low = int(EPHEMERAL_RANGE.read_text().split()[0]) if EPHEMERAL_RANGE.exists() else 0
    candidates = (
        random.Random().sample(range(20_000, low), k=200) if low > 20_200 else [0] * (n + 8)
    )
    ports: list[int] = []
    for candidate in candidates:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port = probe.getsockname()[1]
        if port not in ports:
            ports.append(port)
        if len(ports) == n:
            return ports
    raise RuntimeError(f"no {n} free loopback ports found")


def finish_together(
    procs: list[subprocess.Popen[str]], timeout: float, grace: float = 30
) -> list[tuple[int | None, str]]:
    """Wait for every process of a cluster: once one fails, the others get ``grace`` seconds to
    end on their own (a process that lost its peer says so and exits), then they are killed —
    they could wait for it forever —, as all are once ``timeout`` passes. Each one's return code
    (None: killed while still running) and stderr come back, for an assertion message that
    says what happened."""
    deadline = time.monotonic() + timeout
    outputs: list[tuple[str, str] | None] = [None] * len(procs)
    readers = [
        threading.Thread(target=lambda i=i, p=p: outputs.__setitem__(i, p.communicate()))
        for i, p in enumerate(procs)
    ]
    for reader in readers:
        reader.start()
    codes: list[int | None] = [None] * len(procs)
    while time.monotonic() < deadline:
        codes = [p.poll() for p in procs]
        if all(c is not None for c in codes):
            break
        if any(c not in (None, 0) for c in codes):
            deadline = min(deadline, time.monotonic() + grace)
        time.sleep(0.2)
    codes = [p.poll() for p in procs]
    for proc, code in zip(procs, codes, strict=True):
        if code is None:
            proc.kill()
    for reader in readers:
        reader.join()
    return [(code, (out or ("", ""))[1]) for code, out in zip(codes, outputs, strict=True)]


@pytest.fixture(scope="session")
def btc_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first six days of the shipped BTC perpetual month (8,640 bars, 9 fills)."""
    frame = pl.read_parquet(shipped_path("btc-perp_1m_2022-01"))
    end = pl.datetime(2022, 1, 7, time_zone="UTC")
    path = tmp_path_factory.mktemp("data") / "btc-perp_1m_2022-01-01_06.parquet"
    frame.filter(pl.col("ts") < end).write_parquet(path)
    return path
