"""``quorum run`` with the store split: time series to QuestDB (the real client against the
QuestDB-compatible loopback server of ``tests/questdb``), the ledger to SQLite. The report and
the ledger's trading tables equal a plain run's; QuestDB holds every candle, feature, signal,
fused signal, fill and equity point of the run, once per natural key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.store.engine import metadata, open_store
from flows.cli import main as cli_main
from tests.deploy.conftest import report_body, store_contents
from tests.questdb.fake_server import FakeQuestDB

pytestmark = pytest.mark.slow

LEFT_TO_QUESTDB = ("candles", "features")


def _run(data: Path, out: Path, name: str, *extra: str) -> tuple[Path, str]:
    store = str(out / f"{name}.sqlite")
    report = out / f"{name}.json"
    args = ["run", "--quiet", "--data", str(data), "--store", store, "--report", str(report)]
    assert cli_main([*args, "--plot", str(out / f"{name}.png"), *extra]) == 0
    return report, store


def _count(store: str, table: str) -> int:
    engine = open_store(store)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(metadata.tables[table])).scalar()
    finally:
        engine.dispose()


def _explained(summary: list[dict[str, Any]], *, candles: bool) -> list[dict[str, Any]]:
    """The daily summary without the input hashes, and without the "Last 6 1h candles" point
    unless ``candles`` (a ledger without candles cannot give it)."""
    for day in summary:
        for explanation in day["explanations"]:
            explanation.pop("input_hash")
            if not candles:
                points = explanation["points"]
                explanation["points"] = [p for p in points if "candles:" not in p]
    return summary


def test_a_split_run_gives_the_same_report_and_ledger(btc_slice: Path, tmp_path: Path) -> None:
    plain_report, plain_store = _run(btc_slice, tmp_path, "plain")
    config = tmp_path / "split.yaml"
    config.write_text("store:\n  timeseries_in_ledger: false\n")
    with FakeQuestDB() as questdb:
        split_report, split_store = _run(
            btc_slice, tmp_path, "split",
            "--timeseries-store", f"questdb://{questdb.addr}", "--config", str(config),
        )  # fmt: skip

    plain_body, split_body = report_body(plain_report), report_body(split_report)
    split_summary = _explained(split_body.pop("daily_summary"), candles=True)
    assert split_summary == _explained(plain_body.pop("daily_summary"), candles=False)
    assert split_body == plain_body
    assert split_body["fills"] == 9
    plain, split = store_contents(plain_store), store_contents(split_store)
    for table in LEFT_TO_QUESTDB:
        assert split[table] == [], table
    differ = {table for table in plain if split[table] != plain[table]}
    assert differ == {*LEFT_TO_QUESTDB, "explanations"}  # as in the report

    assert len(questdb.ddl) == 6
    for table in ("candles", "features", "signals", "fused_signals", "fills", "equity"):
        held = questdb.rows(table)
        assert held, table
        if table not in LEFT_TO_QUESTDB:
            assert len(held) == _count(plain_store, table), table
    assert len(questdb.rows("candles")) == _count(plain_store, "candles")
    assert len(questdb.rows("features")) == _count(plain_store, "features")
    run_id = json.loads(split_report.read_text())["run_id"]
    assert {line.symbols["run_id"] for line in questdb.rows("fills")} == {run_id}
