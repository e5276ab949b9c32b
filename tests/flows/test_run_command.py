"""`quorum run`, the main job, end to end on the shipped BTC perpetual month."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from connectors.store.engine import open_store
from flows.cli import main as cli_main


def test_report_holds_the_figures_a_trader_reads(main_job: dict[str, Path]) -> None:
    report = json.loads(main_job["report"].read_text())
    flow = report["flow"]
    assert flow["records_in"] == 45_031
    assert flow["candles"] == {"1m": 45_031, "5m": 9_007, "15m": 3_003, "1h": 751, "4h": 189}
    assert flow["dead_lettered"] == 0 and flow["late"] == 0
    for key in ("sharpe", "sortino", "max_drawdown_pct", "fees_paid", "hit_rate"):
        assert key in report, key
    assert report["fills"] > 0
    assert float(report["fees_paid"]) > 0  # fees are modelled, never zero by accident
    assert sum(report["decisions_by_band"].values()) == sum(flow["decisions"].values())
    assert main_job["plot"].stat().st_size > 10_000


def test_every_fill_and_decision_is_in_an_intact_audit_chain(main_job: dict[str, Path]) -> None:
    assert cli_main(["audit", "verify", "--store", str(main_job["store"])]) == 0
    engine = open_store(main_job["store"])
    try:
        with engine.connect() as conn:
            kinds = dict(
                conn.execute(text("SELECT kind, COUNT(*) FROM audit_log GROUP BY kind")).all()
            )
            fills = conn.execute(text("SELECT COUNT(*) FROM fills")).scalar_one()
    finally:
        engine.dispose()
    assert kinds["fill"] == fills > 0
    assert kinds["fused_signal"] > 1000
    # REVIEW decisions are approved by the backtest's simulated reviewer, on the record.
    assert kinds.get("manual_action", 0) >= 1


def test_a_bad_configuration_stops_start_up_naming_the_field(tmp_path: Path, capsys) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("candles:\n  allowed_lateness_ms: -5\n")
    code = cli_main(["run", "--config", str(config), "--store", str(tmp_path / "s.sqlite")])
    assert code == 2
    err = capsys.readouterr().err
    assert "candles.allowed_lateness_ms" in err and "-5" in err
    assert "Traceback" not in err


def test_a_missing_data_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    code = cli_main(["run", "--data", str(tmp_path / "nope.parquet"), "--quiet"])
    assert code == 2
    assert "nope.parquet" in capsys.readouterr().err


def test_the_review_queue_shows_what_the_simulated_reviewer_decided(
    main_job: dict[str, Path],
) -> None:
    engine = open_store(main_job["store"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT status, reviewer FROM review_queue")).all()
    finally:
        engine.dispose()
    assert rows, "the month has REVIEW-band decisions"
    assert {(status, reviewer) for status, reviewer in rows} == {("approved", "simulated-reviewer")}
