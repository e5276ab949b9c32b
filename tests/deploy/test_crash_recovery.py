"""kill -9 during ``quorum run --recovery-dir``: the restarted runs end as an uninterrupted one.

The process kills itself with SIGKILL once its store sink has committed a fixed number of
items (``QUORUM_CRASH_AFTER_ITEMS``, :mod:`flows.faults`), so every kill point is set by the
data, not by timing. Three kills, each followed by a restart on the same recovery directory,
then a restart that finishes; once with 1 s snapshots (resumes from mid-run snapshots) and once
with Bytewax's default 10 s (kills mostly before the first snapshot: restarts replay from the
start into a store that already holds part of the run). Afterwards every table equals the
uninterrupted run's, the audit chain verifies with each event once, and the report is the same.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from sqlalchemy import text

from connectors.store.audit import verify_store
from connectors.store.engine import open_store
from flows.faults import CRASH_ENV
from tests.deploy.conftest import quorum, report_body, store_contents

pytestmark = pytest.mark.slow

BATCH_ROWS = 500
"""Source batch of the test configuration: the six days come in 18 batches (1,355 items)."""
KILL_AFTER_ITEMS = (350, 350, 350)
"""Items each process writes before it dies; three kills stay below the run's 1,355 items
even if a restart resumed from the very point of the previous kill."""


def _config(tmp: Path) -> Path:
    path = tmp / "crash.yaml"
    path.write_text(f"source:\n  batch_size: {BATCH_ROWS}\n")
    return path


def _run(data: Path, config: Path, out: Path, name: str, *extra: str, env=None):
    return quorum(
        "run",
        "--quiet",
        "--data",
        str(data),
        "--config",
        str(config),
        "--store",
        str(out / f"{name}.sqlite"),
        "--report",
        str(out / f"{name}.json"),
        "--plot",
        str(out / f"{name}.png"),
        *extra,
        env=env,
    )


@pytest.fixture(scope="module")
def uninterrupted(btc_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    done = _run(btc_slice, _config(out), out, "clean")
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("snapshot_seconds", ["1", "10"])
def test_killed_three_times_the_store_equals_an_uninterrupted_run(
    snapshot_seconds: str, btc_slice: Path, uninterrupted: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    recovery = ("--recovery-dir", str(tmp_path / "recovery"), "--snapshot-interval")
    recovery += (snapshot_seconds,)
    for limit in KILL_AFTER_ITEMS:
        killed = _run(
            btc_slice, config, tmp_path, "crashed", *recovery, env={CRASH_ENV: str(limit)}
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    finished = _run(btc_slice, config, tmp_path, "crashed", *recovery)
    assert finished.returncode == 0, finished.stderr

    url = str(tmp_path / "crashed.sqlite")
    expected = store_contents(str(uninterrupted / "clean.sqlite"))
    got = store_contents(url)
    assert got.keys() == expected.keys()
    for table in expected:
        assert got[table] == expected[table], table
    assert len(got["fills"]) == 9 and len(got["audit_log"]) > 300

    engine = open_store(url)
    try:
        assert verify_store(engine).ok
        with engine.connect() as conn:
            repeated = conn.execute(
                text(
                    "SELECT COUNT(*) FROM (SELECT payload FROM audit_log GROUP BY kind, ts, "
                    "payload HAVING COUNT(*) > 1) AS d"
                )
            ).scalar_one()
            runs = conn.execute(text("SELECT COUNT(*) FROM runs")).scalar_one()
    finally:
        engine.dispose()
    assert repeated == 0
    assert runs == 1  # every restart resumed the run it recovers, under its run id
    assert report_body(tmp_path / "crashed.json") == report_body(uninterrupted / "clean.json")
