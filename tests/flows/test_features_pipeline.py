"""The whole foundation flow on real data: replay → validation → candles → indicators → store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import talib
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSource, run_main

from connectors.files import load_trades, shipped_path
from connectors.replay import ReplaySource
from connectors.store.engine import open_store
from connectors.store.market import read_candles, read_features
from connectors.store.sink import StoreSink, StoreWriter
from flows.cli import main as cli_main
from flows.config import load_config
from flows.pipeline import FlowOutputs, build_flow
from flows.summary import RunStats

CONFIG = load_config()


def test_features_command_matches_talib_on_every_timeframe(tmp_path: Path) -> None:
    out = tmp_path / "features.parquet"
    code = cli_main(
        ["features", str(shipped_path("btc-perp_1m_2022-01")), "--out", str(out), "--quiet"]
    )
    assert code == 0
    frame = pl.read_parquet(out)
    bars = pl.read_parquet(shipped_path("btc-perp_1m_2022-01")).sort("ts")
    assert frame.columns[:8] == [
        "symbol",
        "timeframe",
        "ts",
        "open",
        "high",
        "low",
        "close",
        "volume",
    ]
    for tf, every in (("1m", None), ("5m", "5m"), ("15m", "15m"), ("1h", "1h"), ("4h", "4h")):
        ours = frame.filter(pl.col("timeframe") == tf).sort("ts")
        ref = (
            bars
            if every is None
            else bars.group_by_dynamic("ts", every=every).agg(
                pl.col("open").first(),
                pl.col("high").max(),
                pl.col("low").min(),
                pl.col("close").last(),
                pl.col("volume").sum(),
            )
        )
        assert ours.height == ref.height, tf
        assert ours["close"].to_list() == ref["close"].to_list(), tf
        close, high, low = (ref[c].to_numpy() for c in ("close", "high", "low"))
        for name, expected in (
            ("rsi_14", talib.RSI(close, 14)),
            ("ema_50", talib.EMA(close, 50)),
            ("atr_14", talib.ATR(high, low, close, 14)),
            ("macd_hist", talib.MACD(close, 12, 26, 9)[2]),
            ("bb_upper", talib.BBANDS(close, 20, 2.0, 2.0, 0)[0]),
        ):
            got = ours[name].to_numpy()
            np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=f"{tf} {name}")
            ok = ~np.isnan(expected)
            np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-9, err_msg=f"{tf} {name}")


def test_features_command_names_a_missing_column(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ts,open,high,close\n2022-01-01T00:00:00Z,1,2,1.5\n")
    code = cli_main(["features", str(bad), "--out", str(tmp_path / "x.parquet"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "low" in err
    assert "Traceback" not in err


def _replay_items(batch_size: int) -> list[object]:
    source = ReplaySource(
        [load_trades(shipped_path("xrp-eth_trades_2019-10"))], batch_size=batch_size
    )
    part = source.build_part("replay", source.list_parts()[0], None)
    items: list[object] = []
    while True:
        try:
            items.extend(part.next_batch())
        except StopIteration:
            return items


def _store_contents(url: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    engine = open_store(url)
    try:
        candles = read_candles(engine).sort("symbol", "timeframe", "ts")
        features = read_features(engine).sort("symbol", "timeframe", "ts")
    finally:
        engine.dispose()
    return candles, features


def test_abort_and_resume_from_recovery_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    items = _replay_items(batch_size=1000)
    assert len(items) > 10

    plain_url = str(tmp_path / "plain.sqlite")
    flow = build_flow(
        TestingSource(items),
        config=CONFIG,
        outputs=FlowOutputs(store=StoreSink(plain_url, StoreWriter("plain"))),
        stage="features",
    )
    run_main(flow)

    recovery_dir = tmp_path / "recovery"
    recovery_dir.mkdir()
    init_db_dir(recovery_dir, 1)
    resumed_url = str(tmp_path / "resumed.sqlite")
    stats = RunStats()
    aborting = [*items[:6], TestingSource.ABORT(), *items[6:]]
    flow = build_flow(
        TestingSource(aborting),
        config=CONFIG,
        outputs=FlowOutputs(store=StoreSink(resumed_url, StoreWriter("resumed")), stats=stats),
        stage="features",
    )
    recovery = RecoveryConfig(str(recovery_dir))
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    partial = stats.counters["candles:1m"]
    assert 0 < partial < 3560
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)

    plain_candles, plain_features = _store_contents(plain_url)
    resumed_candles, resumed_features = _store_contents(resumed_url)
    assert plain_candles.height == resumed_candles.height > 3560
    assert plain_candles.drop("source").equals(resumed_candles.drop("source"))
    assert plain_features.equals(resumed_features)


@pytest.mark.parametrize("bad_price", [float("nan"), -1.0, 0.0, float("inf")])
def test_bad_trades_are_dead_lettered_and_the_rest_still_aggregates(bad_price: float) -> None:
    from schemas.batches import TradeBatch

    minute = 60_000_000_000
    start = 1_600_000_000 * 1_000_000_000 // minute * minute
    good = TradeBatch.from_columns(
        "A/B", [start, start + 1, start + minute], [10.0, 11.0, 12.0], [1.0] * 3, [1, 2, 3]
    )
    bad = TradeBatch.from_columns("A/B", [start + 2], [bad_price], [1.0], [4])
    collected: list[object] = []
    stats = RunStats()
    flow = build_flow(
        TestingSource([good, bad]),
        config=CONFIG,
        outputs=FlowOutputs(collect=collected.extend, stats=stats),
        stage="features",
    )
    run_main(flow)
    dead = [x for x in collected if type(x).__name__ == "DeadLetter"]
    assert len(dead) == 1 and dead[0].symbol == "A/B"
    assert "price" in dead[0].detail
    assert stats.counters["candles:1m"] == 2
