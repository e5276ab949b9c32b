"""The Bytewax operators in real dataflows: routing, end-of-input flush, dead letters, recovery."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from bytewax import operators as op
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, run_main

from operators.candles import CandleRollup, LateTrades, MultiTimeframeCandles
from operators.candles.aggregate import concat_candles
from operators.candles.ops import build_candles, roll_up
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import NS_PER_MINUTE, Timeframe
from schemas.records import DeadLetter

COLUMNS = ("ts_ns", "open", "high", "low", "close", "volume", "trades")
OHLCV = ("open", "high", "low", "close", "volume", "trades")


def per_key(items: list[tuple[str, CandleBatch]]) -> dict[tuple[str, Timeframe], CandleBatch]:
    grouped: dict[tuple[str, Timeframe], list[CandleBatch]] = {}
    for key, batch in items:
        assert key == batch.symbol
        grouped.setdefault((key, batch.timeframe), []).append(batch)
    return {k: concat_candles(k[0], k[1], parts) for k, parts in grouped.items()}


def core_run(core: MultiTimeframeCandles, batches: list) -> dict[Timeframe, CandleBatch]:
    parts: dict[Timeframe, list[CandleBatch]] = {}
    for batch in [*batches, None]:
        update = core.flush() if batch is None else core.update(batch)
        for timeframe, candles in update.candles.items():
            parts.setdefault(timeframe, []).append(candles)
    return {t: concat_candles(core.symbol, t, p) for t, p in parts.items()}


def assert_equal_batches(got: CandleBatch, expected: CandleBatch) -> None:
    for column in COLUMNS:
        np.testing.assert_array_equal(getattr(got, column), getattr(expected, column))


def candle_flow(items: list, **options: object) -> tuple[Dataflow, list, list, list]:
    flow = Dataflow("candles_test")
    trades = op.key_on("by_symbol", op.input("trades", flow, TestingSource(items, 3)), _symbol)
    streams = build_candles("candles", trades, **options)
    candles, late, dead = [], [], []
    op.output("candles_out", streams.candles, TestingSink(candles))
    op.output("late_out", streams.late, TestingSink(late))
    op.output("dead_out", streams.dead, TestingSink(dead))
    return flow, candles, late, dead


def _symbol(batch: TradeBatch | CandleBatch) -> str:
    return batch.symbol


@pytest.fixture(scope="module")
def two_symbols(xrp_trades: TradeBatch) -> list[TradeBatch]:
    """Real XRP/ETH trades under two keys, interleaved; the second key gets them 30 s later."""
    shifted = TradeBatch.from_columns(
        "XRP/ETH:B", xrp_trades.ts_ns + 30 * 10**9, xrp_trades.price, xrp_trades.amount
    )
    out = []
    for start in range(0, len(xrp_trades), 1_000):
        out.append(xrp_trades.take(slice(start, start + 1_000)))
        out.append(shifted.take(slice(start, start + 1_000)))
    return out


def test_build_candles_equals_the_core_and_flushes_at_end_of_input(
    two_symbols: list[TradeBatch],
) -> None:
    flow, candles, late, dead = candle_flow(two_symbols)
    run_main(flow)
    got = per_key(candles)
    assert late == [] and dead == []
    for symbol in ("XRP/ETH", "XRP/ETH:B"):
        expected = core_run(
            MultiTimeframeCandles.from_trades(symbol),
            [b for b in two_symbols if b.symbol == symbol],
        )
        assert sorted(t.value for s, t in got if s == symbol) == ["15m", "1h", "1m", "4h", "5m"]
        for timeframe, batch in expected.items():
            assert_equal_batches(got[(symbol, timeframe)], batch)
    # the last minute closes only at end of input: it is there because on_eof flushed
    last_trade = int(two_symbols[-2].ts_ns[-1])
    minutes = got[("XRP/ETH", Timeframe.M1)].ts_ns
    assert minutes[-1] == last_trade // NS_PER_MINUTE * NS_PER_MINUTE
    assert got[("XRP/ETH", Timeframe.M1)].trades.sum() == sum(
        len(b) for b in two_symbols if b.symbol == "XRP/ETH"
    )


def test_late_trades_and_refused_batches_get_their_own_streams() -> None:
    m = NS_PER_MINUTE
    items = [
        TradeBatch.from_columns("A/B", [0, 2 * m], [1.0, 2.0], [1.0, 1.0], [1, 2]),
        TradeBatch.from_columns("A/B", [m, 3 * m], [5.0, 3.0], [1.0, 1.0], [3, 4]),  # 1 late
        TradeBatch.from_columns("A/B", [4 * m, 5 * m], [1.0, -2.0], [1.0, 1.0], [5, 6]),  # bad
        TradeBatch.from_columns("A/B", [6 * m], [4.0], [1.0], [7]),
    ]
    flow, candles, late, dead = candle_flow(items, targets=[Timeframe.M5])
    run_main(flow)
    assert [(key, type(v)) for key, v in late] == [("A/B", LateTrades)]
    assert late[0][1].trades.trade_id.tolist() == [3]
    assert late[0][1].watermark_ns.tolist() == [2 * m]
    assert [v.reason for _, v in dead] == ["rejected_by_candle_builder"] * 2
    assert all(
        isinstance(v, DeadLetter) and "price must be finite and > 0" in v.detail for _, v in dead
    )
    assert [v.raw for _, v in dead][1].startswith('{"symbol": "A/B", "ts_ns": 300000000000')
    got = per_key(candles)
    minutes = got[("A/B", Timeframe.M1)]
    assert minutes.ts_ns.tolist() == [t * m for t in range(7)]  # 4 and 5 filled, 6 flushed
    assert minutes.trades.tolist() == [1, 0, 1, 1, 0, 0, 1]
    assert got[("A/B", Timeframe.M5)].ts_ns.tolist() == [0, 5 * m]


def test_roll_up_over_the_ten_pair_basket(alts_5m_frame: pl.DataFrame) -> None:
    batches = []
    for (symbol,), frame in alts_5m_frame.group_by("symbol", maintain_order=True):
        candles = CandleBatch.from_columns(
            str(symbol),
            Timeframe.M5,
            frame["ts"].dt.epoch("ns").to_numpy(),
            *(frame[c] for c in ("open", "high", "low", "close", "volume")),
        )
        batches.extend(candles.take(slice(i, i + 700)) for i in range(0, len(candles), 700))
    batches.insert(5, batches[3])  # a replayed batch: out of order for its key
    flow = Dataflow("rollup_test")
    keyed = op.key_on("by_symbol", op.input("candles", flow, TestingSource(batches, 4)), _symbol)
    rolled = roll_up("rollup", keyed, [Timeframe.H1, Timeframe.H4])
    out, dead = [], []
    op.output("out", rolled.candles, TestingSink(out))
    op.output("dead", rolled.dead, TestingSink(dead))
    run_main(flow)
    assert len(dead) == len(batches[3]) and {v.reason for _, v in dead} == {
        "rejected_by_candle_rollup"
    }
    assert "out of order or duplicated" in dead[0][1].detail
    got = per_key(out)
    assert {t for _, t in got} == {Timeframe.H1, Timeframe.H4}
    clean = [b for i, b in enumerate(batches) if i != 5]
    for symbol in {b.symbol for b in clean}:
        rollup = CandleRollup(symbol, Timeframe.M5, [Timeframe.H1, Timeframe.H4])
        parts: dict[Timeframe, list[CandleBatch]] = {Timeframe.H1: [], Timeframe.H4: []}
        for batch in [b for b in clean if b.symbol == symbol]:
            for timeframe, candles in rollup.update(batch).items():
                parts[timeframe].append(candles)
        for timeframe, candles in rollup.flush().items():
            parts[timeframe].append(candles)
        for timeframe, chunks in parts.items():
            expected = concat_candles(symbol, timeframe, chunks)
            assert_equal_batches(got[(symbol, timeframe)], expected)


def test_a_bad_target_fails_when_the_flow_is_built() -> None:
    flow = Dataflow("bad_target")
    keyed = op.key_on("k", op.input("in", flow, TestingSource([])), _symbol)
    with pytest.raises(ValueError, match="not coarser than the source timeframe 1h"):
        roll_up("rollup", keyed, [Timeframe.M15], source=Timeframe.H1)


def test_resume_after_a_crash_gives_the_candles_of_an_uninterrupted_run(
    tmp_path, two_symbols: list[TradeBatch]
) -> None:
    items = [*two_symbols[:11], TestingSource.ABORT(), *two_symbols[11:]]
    init_db_dir(tmp_path, 1)
    recovery = RecoveryConfig(str(tmp_path))
    flow, candles, late, dead = candle_flow(items)
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    before_crash = len(candles)
    assert before_crash > 0
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)  # resumes
    assert len(candles) > before_crash
    # at-least-once: a candle emitted before the crash may come again, identical
    seen: dict[tuple[str, str, int], tuple[float, ...]] = {}
    for key, batch in candles:
        for i in range(len(batch)):
            row = batch.row(i)
            ident = (key, str(row["timeframe"]), int(row["ts_ns"]))
            values = tuple(float(row[c]) for c in OHLCV)
            assert seen.setdefault(ident, values) == values
    for symbol in ("XRP/ETH", "XRP/ETH:B"):
        expected = core_run(
            MultiTimeframeCandles.from_trades(symbol),
            [b for b in two_symbols if b.symbol == symbol],
        )
        for timeframe, batch in expected.items():
            keys = sorted(ts for s, t, ts in seen if s == symbol and t == timeframe.value)
            assert keys == batch.ts_ns.tolist()
            values = [tuple(float(batch.row(i)[c]) for c in OHLCV) for i in range(len(batch))]
            assert [seen[(symbol, timeframe.value, ts)] for ts in keys] == values
    assert late == [] and dead == []
