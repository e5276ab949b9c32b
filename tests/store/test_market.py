"""Market-data tables: round trips, idempotency, NaN handling, dedupe keys, readers.

Every test taking ``store`` runs on SQLite and on PostgreSQL (skipped when no server answers).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sqlalchemy import Engine, func, select

from connectors.store.engine import open_store
from connectors.store.market import (
    DEFAULT_FEATURES,
    candle_inventory,
    candles,
    dead_letters,
    features,
    finish_run,
    latest_candle_per_symbol,
    read_candles,
    read_dead_letters,
    read_features,
    read_late,
    read_runs,
    row_counts,
    start_run,
    write_candles,
    write_dead_letters,
    write_features,
    write_late,
)
from schemas.batches import CandleBatch, FeatureBatch
from schemas.common import NS_PER_MINUTE, Timeframe, ns_to_datetime
from schemas.records import DeadLetter, LateTrade


def _count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _chunks(batch: CandleBatch, size: int) -> list[CandleBatch]:
    return [batch.take(np.arange(i, min(i + size, len(batch)))) for i in range(0, len(batch), size)]


def test_candles_round_trip_real_data(store: Engine, btc_batch: CandleBatch) -> None:
    other = CandleBatch.from_columns(
        "ETH-PERP", Timeframe.M5, btc_batch.ts_ns[:10] * 5, *(np.ones(10),) * 5, source="ccxt"
    )
    assert write_candles(store, [*_chunks(btc_batch, 700), other]) == len(btc_batch) + 10

    frame = read_candles(store, symbol="BTC-PERP", timeframe="1m")
    assert frame.schema["ts"] == pl.Datetime("ns", "UTC")
    assert frame["ts"].dt.epoch("ns").to_numpy().tolist() == btc_batch.ts_ns.tolist()
    for name in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(frame[name].to_numpy(), getattr(btc_batch, name)), name
    assert frame["trades"].to_list() == btc_batch.trades.tolist()
    assert set(frame["source"]) == {"replay"}
    assert frame["ts"][0] == datetime(2021, 12, 31, 23, 1, tzinfo=UTC)

    eth = read_candles(store, symbol="ETH-PERP")
    assert eth["timeframe"].to_list() == ["5m"] * 10 and set(eth["source"]) == {"ccxt"}


def test_writing_again_overwrites_instead_of_duplicating(
    store: Engine, btc_batch: CandleBatch
) -> None:
    batch = btc_batch.take(np.arange(100))
    write_candles(store, [batch])
    write_candles(store, [batch])
    assert _count(store, candles) == 100

    revised = batch.take(np.arange(100))
    revised.close[-1] += 7.5  # a bar re-emitted with a corrected close after a resume
    write_candles(store, [revised])
    frame = read_candles(store)
    assert len(frame) == 100
    assert frame["close"][-1] == batch.close[-1] + 7.5


def test_same_bar_twice_in_one_call_keeps_the_last(store: Engine) -> None:
    first = CandleBatch.from_columns("A/B", "1m", [0], [1.0], [2.0], [0.5], [1.5], [10.0])
    second = CandleBatch.from_columns("A/B", "1m", [0], [1.0], [3.0], [0.5], [2.5], [20.0])
    write_candles(store, [first, second])
    assert read_candles(store).select("high", "close", "volume").rows() == [(3.0, 2.5, 20.0)]


def test_empty_input_writes_nothing(store: Engine) -> None:
    assert write_candles(store, [CandleBatch.empty("A/B", Timeframe.H1)]) == 0
    assert write_features(store, []) == 0
    assert read_candles(store).is_empty() and read_features(store).is_empty()


def test_features_nan_is_stored_as_null_and_read_back_as_nan(store: Engine) -> None:
    minute = NS_PER_MINUTE
    bars = CandleBatch.from_columns(
        "A/B",
        "1m",
        [0, minute, 2 * minute],
        [1, 2, 3],
        [1, 2, 3],
        [1, 2, 3],
        [1.0, 2.0, 3.0],
        [0] * 3,
    )
    columns = {
        "sma_20": np.array([np.nan, np.nan, 2.0]),
        "rsi_14": np.array([np.nan, 61.25, 70.5]),
        "ofi_5": np.array([0.5, np.nan, -1.25]),  # not a table column: goes to `extra`
    }
    write_features(store, [FeatureBatch(bars, columns)])

    with store.connect() as conn:
        raw = conn.execute(
            select(
                features.c.sma_20, features.c.rsi_14, features.c.ema_12, features.c.extra
            ).order_by(features.c.ts)
        ).all()
    assert [tuple(r)[:3] for r in raw] == [
        (None, None, None),
        (None, 61.25, None),
        (2.0, 70.5, None),
    ]
    assert [r.extra for r in raw] == [{"ofi_5": 0.5}, {"ofi_5": None}, {"ofi_5": -1.25}]

    frame = read_features(store)
    assert frame.columns[:4] == ["symbol", "timeframe", "ts", "close"]
    assert frame.columns[4 : 4 + len(DEFAULT_FEATURES)] == list(DEFAULT_FEATURES)
    for name, values in columns.items():
        assert np.array_equal(frame[name].to_numpy(), values, equal_nan=True), name
    assert np.isnan(frame["vwap"].to_numpy()).all()
    assert frame["close"].to_list() == [1.0, 2.0, 3.0]


def test_features_upsert_is_idempotent(store: Engine) -> None:
    c = CandleBatch.from_columns("A/B", "1h", [0], [1.0], [1.0], [1.0], [1.0], [1.0])
    write_features(store, [FeatureBatch(c, {"ema_12": np.array([np.nan])})])
    write_features(store, [FeatureBatch(c, {"ema_12": np.array([1.5])})])
    write_features(store, [FeatureBatch(c, {"ema_12": np.array([1.5])})])
    assert _count(store, features) == 1
    assert read_features(store)["ema_12"].to_list() == [1.5]


def test_feature_batches_with_different_indicators_complete_each_other(store: Engine) -> None:
    c = CandleBatch.from_columns("A/B", "1h", [0], [1.0], [1.0], [1.0], [1.0], [1.0])
    write_features(store, [FeatureBatch(c, {"ema_12": np.array([2.0]), "a": np.array([1.0])})])
    write_features(store, [FeatureBatch(c, {"rsi_14": np.array([30.0]), "b": np.array([2.0])})])
    write_features(store, [FeatureBatch(c, {"ema_12": np.array([np.nan])})])  # a NaN overwrites
    frame = read_features(store)
    assert math.isnan(frame["ema_12"][0])
    assert frame.select("rsi_14", "b").row(0) == (30.0, 2.0)
    assert "a" not in frame.columns  # `extra` is replaced as a whole, not merged


@settings(max_examples=40, deadline=None)
@given(
    values=hnp.arrays(
        np.float64,
        st.integers(1, 20),
        elements=st.floats(allow_nan=True, allow_infinity=True, width=64),
    ),
    extra_scale=st.floats(-1e6, 1e6),
)
def test_feature_values_round_trip_exactly(values: np.ndarray, extra_scale: float) -> None:
    engine = open_store("sqlite://")
    n = len(values)
    ts = np.arange(n, dtype=np.int64) * NS_PER_MINUTE
    c = CandleBatch.from_columns("A/B", "1m", ts, *(np.ones(n),) * 5)
    extra = np.where(np.isnan(values), np.nan, extra_scale)
    write_features(engine, [FeatureBatch(c, {"zscore_20": values, "custom": extra})])
    frame = read_features(engine)
    assert np.array_equal(frame["zscore_20"].to_numpy(), values, equal_nan=True)
    assert np.array_equal(frame["custom"].to_numpy(), extra, equal_nan=True)


def test_malformed_batches_are_rejected_with_the_column_named(store: Engine) -> None:
    broken = CandleBatch.from_columns("A/B", "1m", [0, 60], [1, 1], [1, 1], [1, 1], [1, 1], [1, 1])
    broken.close = np.array([1.0])  # one value short
    with pytest.raises(
        ValueError, match=r"CandleBatch A/B 1m: column 'close' has 1 values, expected 2"
    ):
        write_candles(store, [broken])

    c = CandleBatch.from_columns("A/B", "1m", [0], [1.0], [1.0], [1.0], [1.0], [1.0])
    with pytest.raises(ValueError, match=r"column 'rsi_14' has 2 values, expected 1"):
        write_features(store, [FeatureBatch(c, {"rsi_14": np.array([1.0, 2.0])})])
    with pytest.raises(ValueError, match=r"\['close'\] clash"):
        write_features(store, [FeatureBatch(c, {"close": np.array([1.0])})])
    assert read_candles(store).is_empty() and read_features(store).is_empty()


def test_nan_candle_price_is_kept_as_missing_not_lost(store: Engine) -> None:
    c = CandleBatch.from_columns("A/B", "1m", [0], [1.0], [2.0], [0.5], [np.nan], [1.0])
    write_candles(store, [c])
    assert math.isnan(read_candles(store)["close"][0])


def _letter(raw: str, reason: str = "non_positive_price", **kw) -> DeadLetter:
    return DeadLetter(source="replay", reason=reason, detail=f"bad: {raw}", raw=raw, **kw)


def test_dead_letters_are_recorded_once_per_run_source_reason_and_raw(store: Engine) -> None:
    when = datetime(2022, 1, 1, 0, 0, 1, 250_000, tzinfo=UTC)
    first = _letter('{"price": -1}', symbol="BTC/USDT", ts=when)
    assert write_dead_letters(store, "run-1", [first, first]) == 2
    write_dead_letters(store, "run-1", [first])  # a replay after recovery
    assert _count(store, dead_letters) == 1

    write_dead_letters(store, "run-1", [_letter('{"price": -1}', reason="missing_amount")])
    write_dead_letters(store, "run-1", [_letter('{"price": -2}')])
    write_dead_letters(store, "run-2", [first])
    assert _count(store, dead_letters) == 4

    frame = read_dead_letters(store, run_id="run-1")
    assert frame["raw"].to_list() == ['{"price": -1}', '{"price": -1}', '{"price": -2}']
    assert frame["ts"][0] == when and frame["ts"][1] is None
    assert frame["symbol"][0] == "BTC/USDT" and frame["detail"][0] == 'bad: {"price": -1}'
    assert frame["id"].is_sorted() and frame["recorded_at"].null_count() == 0


def test_hostile_dead_letter_text_is_stored_safely(store: Engine) -> None:
    quoted = '\u00e9\U0001f4a5 "quoted" \\ back; DROP TABLE candles; --' + "x" * 100_000
    undecodable = "bytes \x00 and \udcff from a broken frame"  # NUL and a lone surrogate
    write_dead_letters(store, "r", [_letter(quoted), _letter(undecodable)])
    write_dead_letters(store, "r", [_letter(undecodable)])
    stored = read_dead_letters(store)["raw"].to_list()
    assert stored == [quoted, "bytes \\x00 and \\udcff from a broken frame"]
    assert _count(store, candles) == 0


def test_late_trades_are_recorded_once(store: Engine) -> None:
    base = datetime(2021, 1, 8, tzinfo=UTC)
    trade = LateTrade(
        symbol="BTC/USDT", ts=base, price=39432.48, amount=0.000263, trade_id="553287559",
        watermark=base + timedelta(seconds=5),
    )  # fmt: skip
    anonymous = LateTrade(
        symbol="BTC/USDT", ts=base, price=39432.5, amount=0.1, watermark=base + timedelta(seconds=5)
    )
    write_late(store, "run-1", [trade, anonymous])
    write_late(store, "run-1", [trade, anonymous])
    write_late(store, "run-2", [trade])
    frame = read_late(store, run_id="run-1")
    assert len(frame) == 2 and len(read_late(store)) == 3
    row = frame.filter(pl.col("trade_id") == "553287559").row(0, named=True)
    assert (row["price"], row["amount"], row["ts"]) == (39432.48, 0.000263, base)
    assert row["watermark"] == base + timedelta(seconds=5)


def test_run_lifecycle(store: Engine) -> None:
    run_id = start_run(store, "run", {"symbols": ["BTC/USDT"], "speed": 0})
    assert start_run(store, "run", {"changed": True}, run_id=run_id) == run_id  # a resume
    runs = read_runs(store)
    assert runs["args"].to_list() == [{"symbols": ["BTC/USDT"], "speed": 0}]
    assert runs["finished_at"][0] is None

    finish_run(store, run_id, {"candles": 3000, "dead_letters": 2})
    runs = read_runs(store)
    assert runs["summary"][0] == {"candles": 3000, "dead_letters": 2}
    assert runs["finished_at"][0] >= runs["started_at"][0]
    with pytest.raises(KeyError, match="'nope' is not in the store"):
        finish_run(store, "nope")


def test_reader_filters(store: Engine, btc_batch: CandleBatch) -> None:
    batch = btc_batch.take(np.arange(10))
    write_candles(store, [batch, replace(batch, symbol="ETH-PERP")])
    start = ns_to_datetime(int(batch.ts_ns[2]))
    by_time = read_candles(store, symbol="BTC-PERP", start=start, end=int(batch.ts_ns[5]))
    assert by_time["ts"].dt.epoch("ns").to_list() == batch.ts_ns[2:5].tolist()
    assert read_candles(store, timeframe=Timeframe.M1)["symbol"].unique().sort().to_list() == [
        "BTC-PERP",
        "ETH-PERP",
    ]
    assert read_candles(store, timeframe="5m").is_empty()
    with pytest.raises(TypeError, match="start must be an aware datetime or int nanoseconds"):
        read_candles(store, start="2022-01-01")


def test_latest_candle_inventory_and_counts(store: Engine, btc_batch: CandleBatch) -> None:
    btc = btc_batch.take(np.arange(50))
    eth = replace(btc.take(np.arange(20)), symbol="ETH-PERP")
    write_candles(store, [btc, eth])
    latest = latest_candle_per_symbol(store)
    assert latest.select("symbol", "timeframe").rows() == [("BTC-PERP", "1m"), ("ETH-PERP", "1m")]
    assert latest["ts"].dt.epoch("ns").to_list() == [int(btc.ts_ns[-1]), int(btc.ts_ns[19])]
    assert latest["close"].to_list() == [btc.close[-1], btc.close[19]]

    inventory = candle_inventory(store)
    assert inventory["rows"].to_list() == [50, 20]
    assert inventory["first_ts"].dt.epoch("ns").to_list() == [int(btc.ts_ns[0])] * 2
    assert inventory["last_ts"].to_list() == latest["ts"].to_list()
    assert row_counts(store) == {
        "candles": 70, "features": 0, "dead_letters": 0, "late_trades": 0, "runs": 0,
    }  # fmt: skip
