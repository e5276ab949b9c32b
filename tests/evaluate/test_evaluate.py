"""Evaluation: hand-computed figures, the plot and JSON files, and the `quorum evaluate` command."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from connectors.store.engine import open_store
from connectors.store.market import write_candles
from connectors.store.signals import write_fused, write_signals
from flows.cli import main as cli
from flows.evaluate import evaluate, plot_report, render_table
from schemas.batches import CandleBatch
from schemas.common import Direction, Timeframe, datetime_to_ns
from schemas.signals import Decision, FusedSignal, Signal

T0 = datetime(2022, 1, 3, tzinfo=UTC)
CLOSES = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 104.0, 103.0, 102.0, 101.0]


def minute(m: int) -> datetime:
    return T0 + timedelta(minutes=m)


def candles_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": ["A"] * 10,
            "timeframe": ["1m"] * 10,
            "ts": [minute(m) for m in range(10)],  # open times; closes known one minute later
            "close": CLOSES,
        }
    )


def make_signal(i, direction, confidence, at, until) -> Signal:
    return Signal(
        signal_id=f"s{i}",
        asset="A",
        direction=direction,
        confidence=confidence,
        timeframe=Timeframe.M15,
        origin="stat:a",
        timestamp=minute(at),
        expires_at=minute(until),
    )


def make_fused(i, score, at, decision) -> FusedSignal:
    return FusedSignal(
        fused_id=f"f{i}",
        asset="A",
        timestamp=minute(at),
        score=score,
        direction=Direction.LONG if score > 0 else Direction.SHORT,
        decision=decision,
    )


SIGNALS = [
    make_signal(1, Direction.LONG, 0.6, 2, 5),  # 101 → 104: hit, p 0.8
    make_signal(2, Direction.SHORT, 0.2, 5, 8),  # 104 → 103: hit, p 0.6
    make_signal(3, Direction.LONG, 0.0, 8, 12),  # horizon past the data: unresolved
]
FUSED = [
    make_fused(1, 0.5, 3, Decision.REVIEW),  # 102 → 104 over 4 min: up, p_up 0.75
    make_fused(2, -0.6, 6, Decision.REVIEW),  # 105 → 101: down, p_up 0.2
    make_fused(3, 0.0, 6, Decision.IGNORE),  # no direction: not a forecast
]


def frames(engine):
    from connectors.store.signals import read_fused, read_signals

    return read_signals(engine), read_fused(engine)


@pytest.fixture
def store():
    engine = open_store("sqlite://")
    write_signals(engine, SIGNALS)
    write_fused(engine, FUSED)
    return engine


def test_figures_by_hand(store):
    signals, fused = frames(store)
    report = evaluate(signals, fused, candles_frame(), fused_horizon=timedelta(minutes=4))
    rows = {r["group"]: r for r in report.table.to_dicts()}
    source = rows["stat:a@15m"]
    assert (source["signals"], source["resolved"]) == (3, 2)
    assert source["hit_rate"] == 1.0
    expected_bps = ((104 / 101 - 1) + -(103 / 104 - 1)) / 2 * 10_000
    assert source["avg_return_bps"] == pytest.approx(expected_bps)
    assert source["brier"] == pytest.approx((0.04 + 0.16) / 2)
    assert source["mean_p"] == pytest.approx(0.7)
    everything = rows["fused"]
    assert (everything["signals"], everything["resolved"]) == (2, 2)
    assert everything["brier"] == pytest.approx((0.0625 + 0.04) / 2)
    assert everything["avg_return_bps"] == pytest.approx(
        ((104 / 102 - 1) + -(101 / 105 - 1)) / 2 * 10_000
    )
    assert rows["fused:review"]["signals"] == 2
    assert report.unresolved == 1
    curves = {(r["group"], r["bin"]): r for r in report.curves.to_dicts()}
    assert curves[("stat:a@15m", 3)]["observed"] == 1.0  # p 0.8 in [0.8, 0.9)
    assert curves[("stat:a@15m", 1)]["mean_p"] == pytest.approx(0.6)
    assert curves[("fused", 3)]["observed"] == 1.0 and curves[("fused", 1)]["observed"] == 0.0


def test_plot_json_and_table(store, tmp_path):
    signals, fused = frames(store)
    report = evaluate(signals, fused, candles_frame(), fused_horizon=timedelta(minutes=4))
    png = plot_report(report, tmp_path / "eval.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report.write_json(tmp_path / "eval.json")
    data = json.loads((tmp_path / "eval.json").read_text())
    assert data["unresolved"] == 1 and data["fused_horizon_minutes"] == 4
    assert {g["group"] for g in data["groups"]} == {"stat:a@15m", "fused", "fused:review"}
    assert render_table(report).row_count == 3


def test_empty_inputs_give_an_empty_report():
    empty = pl.DataFrame()
    report = evaluate(empty, empty, candles_frame())
    assert report.table.is_empty() and report.unresolved == 0


def store_with_signals(tmp_path) -> Path:
    """An SQLite store holding the signals, fused signals and 1m candles above."""
    path = tmp_path / "q.sqlite"
    engine = open_store(path)
    write_signals(engine, SIGNALS)
    write_fused(engine, FUSED)
    ts = [datetime_to_ns(minute(m)) for m in range(10)]
    write_candles(
        engine, [CandleBatch.from_columns("A", "1m", ts, CLOSES, CLOSES, CLOSES, CLOSES, [1] * 10)]
    )
    engine.dispose()
    return path


def test_command_on_a_store_with_signals(tmp_path, capsys):
    path = store_with_signals(tmp_path)
    out_json, out_png = tmp_path / "out" / "e.json", tmp_path / "out" / "e.png"
    code = cli(
        [
            "evaluate",
            "--store",
            str(path),
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
            "--fused-horizon",
            "4",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "stat:a@15m" in printed and "fused:review" in printed
    groups = {g["group"]: g for g in json.loads(out_json.read_text())["groups"]}
    assert groups["stat:a@15m"]["hit_rate"] == 1.0
    assert out_png.exists()


def test_a_store_with_signals_is_evaluated_as_it_is_and_the_command_says_config_is_unused(
    tmp_path, capsys
):
    path = store_with_signals(tmp_path)
    config = tmp_path / "other.yaml"
    config.write_text("signals:\n  online:\n    enabled: false\n")
    assert cli(["evaluate", "--store", str(path), "--fused-horizon", "4"]) == 0
    assert "already holds signals" not in capsys.readouterr().err
    assert cli(["evaluate", "--store", str(path), "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert "stat:a@15m" in captured.out  # the stored signals, not a replay with the config
    err = " ".join(captured.err.split())
    assert f"{path} already holds signals" in err and "--config changes nothing" in err


def test_command_rejects_bad_arguments(tmp_path, capsys):
    assert cli(["evaluate", "--store", str(tmp_path / "q.sqlite"), "--bins", "0"]) == 2
    assert "must be positive" in capsys.readouterr().err
