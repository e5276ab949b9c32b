"""One run of the main job on the shipped BTC month, shared by the tests that read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import main as cli_main


@pytest.fixture(scope="session")
def main_job(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`quorum run` exactly as the README's first command runs it, into a temporary directory."""
    out = tmp_path_factory.mktemp("run")
    paths = {
        "store": out / "quorum.sqlite",
        "report": out / "report.json",
        "plot": out / "equity.png",
    }
    code = cli_main(
        [
            "run",
            "--quiet",
            "--store",
            str(paths["store"]),
            "--report",
            str(paths["report"]),
            "--plot",
            str(paths["plot"]),
        ]
    )
    assert code == 0
    return paths
