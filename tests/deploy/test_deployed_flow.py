"""``python -m bytewax.run flows.deployed:flow``: the env-configured flow, run by Bytewax."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.store.engine import open_store
from connectors.store.market import read_runs
from connectors.store.trading import read_fills
from flows.deployed import deployed_run_id
from tests.deploy.conftest import ROOT

pytestmark = pytest.mark.slow


def test_bytewax_runner_with_two_workers_fills_the_store(btc_slice: Path, tmp_path: Path) -> None:
    store = tmp_path / "deployed.sqlite"
    env = {**os.environ, "QUORUM_DATA": str(btc_slice), "QUORUM_STORE": str(store)}
    done = subprocess.run(
        [sys.executable, "-m", "bytewax.run", "flows.deployed:flow", "-w", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    engine = open_store(store)
    try:
        runs = read_runs(engine)
        run_id = deployed_run_id([str(btc_slice)], f"sqlite:///{store}")
        assert runs["run_id"].to_list() == [run_id]
        assert runs["finished_at"].to_list()[0] is not None  # the store sink closed the run
        assert read_fills(engine, run_id=run_id).height == 9
    finally:
        engine.dispose()
