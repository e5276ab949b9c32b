"""``quorum run`` with Kafka against a real broker process (Tansu), through the CLI.

One file run publishes every output (``--kafka``); the same file, loaded into a topic with
``quorum kafka publish``, feeds a second run (``--source kafka://…``, ``--until-idle``) whose
store and report equal the file run's.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import polars as pl
import pytest

from connectors.files import shipped_path
from connectors.kafka.json_schemas import load_schema
from connectors.kafka.topics import Kind

ROOT = Path(__file__).resolve().parents[2]
DAYS = 8  # the first fills of the BTC month happen on its fourth day
COMPARED = {
    "candles": "symbol, timeframe, ts, open, high, low, close, volume, trades",
    "features": "*",
    "signals": "*",
    "fused_signals": "*",
    "orders": "order_id, intent_id, asset, side, quantity, filled_quantity, status, updated_at",
    "fills": "fill_id, order_id, asset, side, quantity, price, fee, mid_price, ts",
    "equity": "ts, equity, cash, realized_pnl, fees_paid",
    "risk_decisions": "decision_id, intent_id, approved, reason, timestamp",
}


def _quorum(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _run(tmp: Path, name: str, *args: str) -> dict[str, Any]:
    _quorum(
        "run", *args, "--store", str(tmp / f"{name}.sqlite"), "--report",
        str(tmp / f"{name}.json"), "--plot", str(tmp / f"{name}.png"), "--quiet",
    )  # fmt: skip
    report = json.loads((tmp / f"{name}.json").read_text())
    report.pop("run_id")
    for wall_clock in ("elapsed_s", "records_per_s", "records_in"):
        report["flow"].pop(wall_clock, None)
    return report


def _rows(path: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as db:
        return {t: sorted(db.execute(f"select {cols} from {t}")) for t, cols in COMPARED.items()}


@pytest.fixture
def month_slice(tmp_path: Path) -> Path:
    frame = pl.read_parquet(shipped_path("btc-perp_1m_2022-01"))
    path = tmp_path / "btc-perp_1m_2022-01.parquet"  # the symbol (BTC-PERP) comes from the name
    frame.head(DAYS * 1440).write_parquet(path)
    return path


@pytest.mark.slow
def test_outputs_to_kafka_and_a_run_from_a_topic_equal_the_file_run(
    tansu: str, month_slice: Path, tmp_path: Path, read_topic: Any
) -> None:
    file_report = _run(tmp_path, "file", "--data", str(month_slice), "--kafka", tansu)

    # every output reached its topic, once per id, in the documented envelope
    flow = file_report["flow"]
    expected = {
        Kind.CANDLES: sum(flow["candles"].values()),
        Kind.FEATURES: flow["features"],
        Kind.SIGNALS: sum(flow["signals"].values()),
        Kind.FUSED_SIGNALS: sum(flow["decisions"].values()),
        Kind.FILLS: flow["fills"],
    }
    for kind, count in expected.items():
        assert count > 0, kind
        messages = read_topic(tansu, f"quorum.v1.{kind.value}", count, timeout=60)
        values = [orjson.loads(m.value()) for m in messages]
        ids = Counter(v["id"] for v in values)
        assert len(ids) == count and max(ids.values()) == 1, kind
        assert {m.key().decode() for m in messages} == {"BTC-PERP"}, kind
        validator = jsonschema.Draft202012Validator(load_schema(kind))
        for value in values[:200]:
            validator.validate(value)
    assert len(read_topic(tansu, "quorum.v1.orders", 1, timeout=30)) > 0
    assert len(read_topic(tansu, "quorum.v1.audit", 1, timeout=30)) > 0

    # the same data through a topic gives the same store and report
    done = _quorum(
        "kafka", "publish", str(month_slice), "--kafka", tansu, "--topic", "test.btc.candles"
    )  # fmt: skip
    assert f"published {DAYS * 1440:,} candles of BTC-PERP" in done.stdout
    kafka_report = _run(
        tmp_path, "kafka", "--source", f"kafka://{tansu}/test.btc.candles", "--until-idle", "3"
    )
    assert kafka_report == file_report
    assert _rows(tmp_path / "kafka.sqlite") == _rows(tmp_path / "file.sqlite")
