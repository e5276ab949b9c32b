"""The validation operators in real Bytewax flows (run_main, TestingSink, recovery)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, run_main

from connectors.files import load_candles, load_trades, shipped_path
from connectors.replay import ReplaySource, split_market_data
from operators.validation import (
    ValidationConfig,
    ValidationTally,
    validate_candles,
    validate_trades,
)
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import Timeframe
from schemas.records import DeadLetter

SECOND = 1_000_000_000
T0 = 1_610_064_000 * SECOND


def batch(symbol: str, ids: list[int], prices: list[float] | None = None) -> TradeBatch:
    prices = prices or [100.0] * len(ids)
    return TradeBatch.from_columns(
        symbol, [T0 + i * SECOND for i in ids], prices, [1.0] * len(ids), trade_id=ids
    )


def trade_flow(
    items: list[object], valid: list, dead: list, tally: ValidationTally | None = None
) -> Dataflow:
    flow = Dataflow("validate_trades_test")
    keyed = op.key_on("key", op.input("in", flow, TestingSource(items)), lambda b: b.symbol)
    checked = validate_trades("validate", keyed, ValidationConfig(), tally)
    op.output("valid", checked.valid, TestingSink(valid))
    op.output("dead", checked.dead, TestingSink(dead))
    return flow


def test_validate_trades_splits_good_batches_and_dead_letters_per_symbol() -> None:
    items = [
        batch("BTC/USDT", [1, 2, 3], [100.0, -1.0, 100.0]),
        batch("ETH/USDT", [1, 2]),
        batch("BTC/USDT", [3, 4]),  # 3 is a duplicate for BTC/USDT only
        batch("ETH/USDT", [3], [float("nan")]),  # all bad: dead letters only
    ]
    valid: list[tuple[str, TradeBatch]] = []
    dead: list[DeadLetter] = []
    tally = ValidationTally()
    run_main(trade_flow(items, valid, dead, tally))
    assert [(k, b.trade_id.tolist()) for k, b in valid] == [
        ("BTC/USDT", [1, 3]),
        ("ETH/USDT", [1, 2]),
        ("BTC/USDT", [4]),
    ]
    assert [(d.symbol, d.reason) for d in dead] == [
        ("BTC/USDT", "non_positive_price"),
        ("BTC/USDT", "duplicate_trade_id"),
        ("ETH/USDT", "non_finite_price"),
    ]
    assert tally.by_symbol() == {
        "BTC/USDT": {"accepted": 3, "non_positive_price": 1, "duplicate_trade_id": 1},
        "ETH/USDT": {"accepted": 2, "non_finite_price": 1},
    }


def test_validator_state_survives_a_crash_and_resume(tmp_path: Path) -> None:
    init_db_dir(tmp_path, 1)
    recovery = RecoveryConfig(tmp_path)
    items = [batch("BTC/USDT", [1, 2, 3]), TestingSource.ABORT(), batch("BTC/USDT", [3, 4])]
    valid: list[tuple[str, TradeBatch]] = []
    dead: list[DeadLetter] = []
    flow = trade_flow(items, valid, dead)
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert [b.trade_id.tolist() for _, b in valid] == [[1, 2, 3]] and dead == []
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    # id 3 is recognised after the restart: the validator came back from its snapshot
    assert [b.trade_id.tolist() for _, b in valid] == [[1, 2, 3], [4]]
    assert [d.reason for d in dead] == ["duplicate_trade_id"]


def test_validate_candles_in_a_flow() -> None:
    minute = Timeframe.M1.ns
    good = CandleBatch.from_columns(
        "BTC-PERP", "1m", [T0, T0 + minute], [1, 1], [2, 2], [0.5, 0.5], [1.5, 1.5], [3, 3]
    )
    bad = CandleBatch.from_columns(
        "BTC-PERP",
        "1m",
        [T0 + minute, T0 + 3 * minute],
        [1, 1],
        [2, 0.9],
        [0.5, 0.5],
        [1.5, 1.5],
        [3, 3],
    )
    flow = Dataflow("validate_candles_test")
    keyed = op.key_on("key", op.input("in", flow, TestingSource([good, bad])), lambda b: b.symbol)
    checked = validate_candles("validate", keyed)
    valid: list[tuple[str, CandleBatch]] = []
    dead: list[DeadLetter] = []
    op.output("valid", checked.valid, TestingSink(valid))
    op.output("dead", checked.dead, TestingSink(dead))
    run_main(flow)
    assert [len(b) for _, b in valid] == [2]
    assert [d.reason for d in dead] == ["duplicate_open_time", "inconsistent_ohlc"]


def test_replay_split_and_validate_the_real_files_end_to_end(tmp_path: Path) -> None:
    broken = tmp_path / "xrp-eth_trades_broken.csv"
    broken.write_text(
        "ts,price,amount,id\n"
        "2019-10-12T00:00:00Z,0.001482,10,1\n"
        "2019-10-12T00:00:01Z,,10,2\n"  # loader: missing price
        "2019-10-12T00:00:02Z,-0.00141,10,3\n"  # validator: non-positive price
    )
    inputs = [
        load_trades(shipped_path("xrp-eth_trades_2019-10")),
        load_trades(broken),
        load_candles(shipped_path("alts-btc_5m_2018-01")),
    ]
    flow = Dataflow("replay_validate")
    market = split_market_data("split", op.input("replay", flow, ReplaySource(inputs)))
    trades = validate_trades("trades", market.trades)
    candles = validate_candles("candles", market.candles)
    valid_trades: list[tuple[str, TradeBatch]] = []
    valid_candles: list[tuple[str, CandleBatch]] = []
    dead: list[DeadLetter] = []
    op.output("valid_trades", trades.valid, TestingSink(valid_trades))
    op.output("valid_candles", candles.valid, TestingSink(valid_candles))
    all_dead = op.merge("all_dead", market.dead, trades.dead, candles.dead)
    op.output("dead", all_dead, TestingSink(dead))
    run_main(flow)
    assert sum(len(b) for _, b in valid_trades) == 12_477 + 1
    assert sum(len(b) for _, b in valid_candles) == 57_546
    assert sorted(d.reason for d in dead) == ["missing_value", "non_positive_price"]
