"""The recovery directory: created on first use, resumed under its run id, never shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cluster import ClusterSettings, RecoveryError, RecoverySettings, prepare_recovery


def test_first_use_creates_the_partitions_and_a_restart_keeps_the_run_id(tmp_path: Path) -> None:
    settings = RecoverySettings(directory=tmp_path / "rec", snapshot_interval_seconds=1)
    cluster = ClusterSettings(workers=3)
    config, first = prepare_recovery(
        settings, cluster, command="run", inputs=["a.parquet"], run_id="r-1"
    )
    assert config is not None and first == "r-1"
    assert len(list((tmp_path / "rec").glob("part-*.sqlite3"))) == 3
    _, again = prepare_recovery(
        settings, cluster, command="run", inputs=["a.parquet"], run_id="r-2"
    )
    assert again == "r-1"


def test_a_directory_of_another_run_is_refused(tmp_path: Path) -> None:
    settings = RecoverySettings(directory=tmp_path / "rec")
    prepare_recovery(settings, ClusterSettings(), command="run", inputs=["a"], run_id="r-1")
    with pytest.raises(RecoveryError, match=r"belongs to another run \(inputs"):
        prepare_recovery(settings, ClusterSettings(), command="run", inputs=["b"], run_id="r-2")


def test_without_a_directory_there_is_no_recovery() -> None:
    assert prepare_recovery(
        RecoverySettings(), ClusterSettings(), command="run", inputs=[], run_id="r"
    ) == (None, "r")
