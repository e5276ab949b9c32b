"""The 10-pair basket on 1 worker, 2 workers and 2 processes: same store, same report."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.deploy.conftest import (
    ROOT,
    basket_args,
    finish_together,
    flow_counts,
    free_ports,
    quorum,
    report_body,
    start_quorum,
    store_contents,
)

pytestmark = pytest.mark.slow

PROFILE = ROOT / "flows" / "profiles" / "alts-5m.yaml"


def _args(out: Path, name: str) -> list[str]:
    return basket_args(out, name, PROFILE)


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("w1")
    done = quorum(*_args(out, "report"))
    assert done.returncode == 0, done.stderr
    return out


def test_two_workers_in_one_process_match_one_worker(one_worker: Path, tmp_path: Path) -> None:
    done = quorum(*_args(tmp_path, "report"), "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert store_contents(str(tmp_path / "store.sqlite")) == store_contents(
        str(one_worker / "store.sqlite")
    )
    assert report_body(tmp_path / "report.json") == report_body(one_worker / "report.json")


def test_two_processes_match_one_worker(one_worker: Path, tmp_path: Path) -> None:
    for attempt in range(2):  # a port taken by another program between the check and the bind
        out = tmp_path / f"attempt-{attempt}"
        out.mkdir()
        addresses = ",".join(f"127.0.0.1:{port}" for port in free_ports(2))
        procs = [
            start_quorum(
                *_args(out, f"report-{i}"), "--processes", addresses, "--process-id", str(i)
            )
            for i in range(2)
        ]
        finished = finish_together(procs, timeout=240)
        taken = any("cannot listen on" in err for _, err in finished)  # ClusterError
        if not (taken and attempt == 0):
            break
    assert [code for code, _ in finished] == [0, 0], "\n".join(
        f"process {i} ({addresses}): return code {code} (None: killed, still running after "
        f"240 s or after the other failed)\n{err}"
        for i, (code, err) in enumerate(finished)
    )
    assert not (out / "report-1.json").exists()  # process 0 writes the run's report
    assert store_contents(str(out / "store.sqlite")) == store_contents(
        str(one_worker / "store.sqlite")
    )
    assert report_body(out / "report-0.json") == report_body(one_worker / "report.json")
    # process 0 reports the whole cluster's flow counts, not its own share
    assert flow_counts(out / "report-0.json") == flow_counts(one_worker / "report.json")


def test_a_failed_cluster_process_stops_the_other() -> None:
    """The cluster test's waiting: one process failing ends the wait and kills its partner."""
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    failing = [sys.executable, "-c", "import sys; sys.exit('cannot bind')"]
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) for cmd in (failing, sleeper)]
    started = time.monotonic()
    finished = finish_together(procs, timeout=100, grace=1)
    assert finished[0] == (1, "cannot bind\n")
    assert finished[1][0] is None and procs[1].returncode is not None  # killed, not waited for
    assert time.monotonic() - started < 100


def test_a_taken_cluster_address_is_reported_by_both_processes(tmp_path: Path) -> None:
    """Process 1's address is held by another program: process 1 cannot listen, process 0
    loses the peer that had connected to it; both say so in a sentence and exit with 2."""
    ports = free_ports(2)
    addresses = ",".join(f"127.0.0.1:{port}" for port in ports)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports[1]))
        squatter.listen()
        procs = [
            start_quorum(
                *_args(tmp_path, f"report-{i}"), "--processes", addresses, "--process-id", str(i)
            )
            for i in range(2)
        ]
        finished = finish_together(procs, timeout=240)
    (code0, err0), (code1, err1) = finished
    assert code1 == 2, err1
    assert f"cluster process 1 cannot listen on 127.0.0.1:{ports[1]}: the address is in use" in err1
    assert "Traceback" not in err1
    assert code0 == 2, err0
    assert "cluster process 0 lost its connection to another process of the cluster" in err0
