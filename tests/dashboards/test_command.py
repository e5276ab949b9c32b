"""``quorum dashboard``: what it refuses, and the Streamlit command line it runs."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from dashboards.config import resolve
from flows.cli import main
from flows.commands.dashboard import streamlit_command


def test_refuses_a_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.sqlite"
    assert main(["dashboard", "--store", str(missing)]) == 2
    assert f"no store at {missing}" in capsys.readouterr().err
    assert not missing.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--port", "70000"], "--port must be 1-65535"),
        (["--refresh", "0"], "--refresh must be > 0"),
        (["--report", "nowhere.json"], "no report file at nowhere.json"),
    ],
)
def test_refuses_bad_options(
    store: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["dashboard", "--store", str(store), *extra]) == 2
    assert message in capsys.readouterr().err


def test_the_command_line_reaches_the_app_config(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    args = argparse.Namespace(
        store="out/q.sqlite", host="127.0.0.1", port=8600, report=str(report), refresh=2.0
    )
    command = streamlit_command(args, "python")
    assert command[:4] == ["python", "-m", "streamlit", "run"]
    assert Path(command[4]).name == "app.py" and Path(command[4]).exists()
    assert "--server.headless=true" in command and "--server.port=8600" in command
    assert "--server.address=127.0.0.1" in command
    app_args = command[command.index("--") + 1 :]
    config = resolve(app_args, {"QUORUM_STORE": "ignored.sqlite"})
    assert (config.store, config.report, config.refresh_seconds) == ("out/q.sqlite", report, 2.0)
