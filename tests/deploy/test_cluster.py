"""The 10-pair basket on 1 worker, 2 workers and 2 processes: same store, same report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.conftest import (
    ROOT,
    basket_args,
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
    addresses = ",".join(f"127.0.0.1:{port}" for port in free_ports(2))
    procs = [
        start_quorum(
            *_args(tmp_path, f"report-{i}"), "--processes", addresses, "--process-id", str(i)
        )
        for i in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    assert not (tmp_path / "report-1.json").exists()  # process 0 writes the run's report
    assert store_contents(str(tmp_path / "store.sqlite")) == store_contents(
        str(one_worker / "store.sqlite")
    )
    assert report_body(tmp_path / "report-0.json") == report_body(one_worker / "report.json")
    # process 0 reports the whole cluster's flow counts, not its own share
    assert flow_counts(tmp_path / "report-0.json") == flow_counts(one_worker / "report.json")
