"""``quorum data check`` / ``list`` on a store of real candles with one injected fault per symbol.

great-expectations runs here (its import costs seconds, each suite run a few tens of ms), so
the faults share one store and the command runs over all of them at once.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from connectors.store.engine import open_store
from connectors.store.market import write_candles
from flows.cli import main as quorum
from operators.quality import CHECK_NAMES
from schemas.batches import CandleBatch

EXPECTED_FAILURES = {
    ("BTC-PERP", "1m"): (),
    ("BTC-PERP", "5m"): (),
    ("GAP-PERP", "1m"): ("no_gaps",),
    ("HILO-PERP", "1m"): ("high_covers_open_close",),
    ("VOL-PERP", "5m"): ("non_negative_volume",),
    ("ALIGN-PERP", "1m"): ("aligned_ts",),
    ("NULL-PERP", "1m"): ("not_null_close",),
}


def _batch(frame: pl.DataFrame, symbol: str) -> CandleBatch:
    return CandleBatch.from_columns(
        symbol,
        frame["timeframe"][0],
        frame["ts"].dt.epoch("ns").to_numpy(),
        *(frame[c].to_numpy() for c in ("open", "high", "low", "close", "volume")),
    )


def _set(frame: pl.DataFrame, row: int, **values: object) -> pl.DataFrame:
    index = pl.int_range(pl.len())
    return frame.with_columns(
        pl.when(index == row).then(pl.lit(v)).otherwise(pl.col(k)).alias(k)
        for k, v in values.items()
    )


@pytest.fixture(scope="module")
def faulty_store(
    tmp_path_factory: pytest.TempPathFactory, btc_1m: pl.DataFrame, btc_5m: pl.DataFrame
) -> Path:
    path = tmp_path_factory.mktemp("quality") / "store.sqlite"
    head = btc_1m.head(1000)
    index = pl.int_range(pl.len())
    row = head.row(300, named=True)
    series = {
        "BTC-PERP": [btc_1m, btc_5m],
        "GAP-PERP": [head.filter(~index.is_between(400, 404))],
        "HILO-PERP": [_set(head, 300, high=min(row["open"], row["close"]) - 1.0)],
        "VOL-PERP": [_set(btc_5m, 50, volume=-1.0)],
        "ALIGN-PERP": [_set(head, 200, ts=head["ts"][200] + timedelta(seconds=30))],
        "NULL-PERP": [_set(head, 10, close=float("nan"))],
    }
    engine = open_store(path)
    write_candles(engine, [_batch(f, symbol) for symbol, fs in series.items() for f in fs])
    engine.dispose()
    return path


def test_each_fault_is_reported_for_its_series(
    faulty_store: Path, tmp_path: Path, btc_1m: pl.DataFrame, capsys: pytest.CaptureFixture
) -> None:
    report_path = tmp_path / "report.json"
    assert quorum(["data", "check", "--store", str(faulty_store), "--json", str(report_path)]) == 1

    report = json.loads(report_path.read_text())
    assert report["success"] is False
    by_series = {(s["symbol"], s["timeframe"]): s for s in report["series"]}
    assert set(by_series) == set(EXPECTED_FAILURES)
    for key, failed in EXPECTED_FAILURES.items():
        series = by_series[key]
        assert tuple(series["failed_checks"]) == failed, key
        assert series["success"] is (not failed)
        assert series["checks_passed"] + series["checks_failed"] == len(CHECK_NAMES)
        for check in series["checks"]:
            assert check["error"] is None
            assert check["unexpected"] == (1 if check["name"] in failed else 0), (key, check)

    gap = by_series[("GAP-PERP", "1m")]
    assert (gap["gaps"], gap["missing_bars"], gap["largest_gap_bars"]) == (1, 5, 5)
    assert gap["largest_gap_start"] == btc_1m["ts"][400].isoformat()
    assert by_series[("HILO-PERP", "1m")]["invariant_violations"] == 1
    assert by_series[("VOL-PERP", "5m")]["invariant_violations"] == 1
    assert by_series[("ALIGN-PERP", "1m")]["misaligned"] == 1
    assert by_series[("ALIGN-PERP", "1m")]["gaps"] == 0
    assert by_series[("NULL-PERP", "1m")]["null_values"] == 1
    clean = by_series[("BTC-PERP", "1m")]
    assert (clean["rows"], clean["first_ts"]) == (3000, btc_1m["ts"][0].isoformat())

    out = capsys.readouterr().out
    assert "5 of 7 series failed" in out
    assert "GAP-PERP 1m: failed no_gaps; 5 missing bars in 1 gaps" in out


def test_a_clean_selection_passes(faulty_store: Path, capsys: pytest.CaptureFixture) -> None:
    assert quorum(["data", "check", "--store", str(faulty_store), "--symbol", "BTC-PERP"]) == 0
    assert "all 2 series passed" in capsys.readouterr().out
    args = ["data", "check", "--store", str(faulty_store), "--symbol", "GAP-PERP", "--timeframe"]
    assert quorum([*args, "1m"]) == 1


def test_duplicates_in_a_candle_file(
    tmp_path: Path, btc_1m: pl.DataFrame, capsys: pytest.CaptureFixture
) -> None:
    """The store's primary key cannot hold a duplicate bar; a file to be replayed can."""
    path = tmp_path / "dup.parquet"
    pl.concat([btc_1m.head(500), btc_1m[123]]).drop("symbol", "timeframe").write_parquet(path)
    report_path = tmp_path / "dup.json"
    args = ["data", "check", "--file", str(path), "--symbol", "DUP-PERP", "--timeframe", "1m"]
    assert quorum([*args, "--json", str(report_path)]) == 1
    (series,) = json.loads(report_path.read_text())["series"]
    assert (series["symbol"], series["timeframe"]) == ("DUP-PERP", "1m")
    assert series["failed_checks"] == ["unique_ts"] and series["duplicates"] == 1
    assert "DUP-PERP" in capsys.readouterr().out


def test_list_shows_what_the_store_holds(faulty_store: Path, capsys) -> None:
    assert quorum(["data", "list", "--store", str(faulty_store)]) == 0
    out = capsys.readouterr().out
    for symbol, timeframe in EXPECTED_FAILURES:
        assert symbol in out and timeframe in out
    assert "3,000" in out and "2021-12-31 23:01" in out
    assert "candles: 8,197 rows" in out  # 3,000 + 601 + 995 + 3 * 1,000 + 601


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbol", "ETH-PERP"], "no candles for symbol=ETH-PERP timeframe=None; it holds: "),
        (["--timeframe", "7m"], "unknown timeframe '7m'; expected one of 1m, 5m, 15m, 1h, 4h"),
    ],
)
def test_selection_errors(
    faulty_store: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    assert quorum(["data", "check", "--store", str(faulty_store), *args]) == 2
    assert message in capsys.readouterr().err


def test_missing_and_empty_stores_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    missing = tmp_path / "missing.sqlite"
    assert quorum(["data", "check", "--store", str(missing)]) == 2
    assert f"store {missing} does not exist" in capsys.readouterr().err
    assert not missing.exists()

    empty = tmp_path / "empty.sqlite"
    open_store(empty).dispose()
    assert quorum(["data", "check", "--store", str(empty)]) == 2
    assert f"store {empty} holds no candles" in capsys.readouterr().err

    foreign = tmp_path / "foreign.sqlite"
    engine = open_store(foreign, create=False)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE other (x INTEGER)")
    engine.dispose()
    assert quorum(["data", "list", "--store", str(foreign)]) == 2
    assert "holds no candles table" in capsys.readouterr().err


def test_file_errors(tmp_path: Path, btc_1m: pl.DataFrame, capsys) -> None:
    path = tmp_path / "bars.parquet"
    btc_1m.drop("timeframe").head(10).write_parquet(path)
    assert quorum(["data", "check", "--file", str(path)]) == 2
    assert "has no timeframe column: pass --timeframe" in capsys.readouterr().err

    (tmp_path / "junk.parquet").write_text("not parquet")
    assert quorum(["data", "check", "--file", str(tmp_path / "junk.parquet")]) == 2
    assert "cannot read" in capsys.readouterr().err

    btc_1m.head(10).drop("close").write_parquet(path)
    assert quorum(["data", "check", "--file", str(path)]) == 2
    assert "lacks column(s) ['close']" in capsys.readouterr().err
