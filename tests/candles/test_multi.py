"""Trades or candles → every timeframe in one core; timeframe inference."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from operators.candles import MultiTimeframeCandles, infer_timeframe
from operators.candles.aggregate import concat_candles
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import NS_PER_MINUTE, NS_PER_SECOND, Timeframe

M = NS_PER_MINUTE
ALL = [Timeframe.M1, Timeframe.M5, Timeframe.M15, Timeframe.H1, Timeframe.H4]


def run(core: MultiTimeframeCandles, batches: list) -> dict[Timeframe, CandleBatch]:
    out: dict[Timeframe, list[CandleBatch]] = {t: [] for t in core.timeframes}
    for batch in batches:
        for timeframe, candles in core.update(batch).candles.items():
            out[timeframe].append(candles)
    for timeframe, candles in core.flush().candles.items():
        out[timeframe].append(candles)
    return {t: concat_candles(core.symbol, t, parts) for t, parts in out.items()}


def polars_rollup(frame: pl.DataFrame, timeframe: Timeframe) -> pl.DataFrame:
    return frame.group_by_dynamic(
        "ts", every=timeframe.value, closed="left", label="left", start_by="window"
    ).agg(
        pl.col("open").first(),
        pl.col("high").max(),
        pl.col("low").min(),
        pl.col("close").last(),
        pl.col("volume").sum(),
    )


def assert_same(got: CandleBatch, expected: pl.DataFrame) -> None:
    np.testing.assert_array_equal(got.ts_ns, expected["ts"].dt.epoch("ns").to_numpy())
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(got, column), expected[column].to_numpy())


def batches_of(trades: TradeBatch, size: int) -> list[TradeBatch]:
    return [trades.take(slice(i, i + size)) for i in range(0, len(trades), size)]


def test_real_trades_to_every_timeframe_equal_polars_on_the_reference_minutes(
    xrp_trades: TradeBatch, xrp_reference: pl.DataFrame
) -> None:
    """Without empty-minute fill, every timeframe equals polars on the independent 1m file."""
    core = MultiTimeframeCandles.from_trades("XRP/ETH", fill_empty=False)
    got = run(core, batches_of(xrp_trades, 1_000))
    assert list(got) == ALL
    assert_same(got[Timeframe.M1], xrp_reference)
    for timeframe in ALL[1:]:
        assert_same(got[timeframe], polars_rollup(xrp_reference, timeframe))


def polars_from_trades(trades: TradeBatch, timeframe: Timeframe) -> pl.DataFrame:
    """How an exchange builds its klines: the trades themselves, grouped by UTC window."""
    frame = pl.DataFrame(
        {
            "ts": pl.from_epoch(pl.Series(trades.ts_ns), time_unit="ns").dt.replace_time_zone(
                "UTC"
            ),
            "price": trades.price,
            "amount": trades.amount,
        }
    ).sort("ts", maintain_order=True)
    return frame.group_by_dynamic("ts", every=timeframe.value, closed="left", label="left").agg(
        pl.col("price").first().alias("open"),
        pl.col("price").max().alias("high"),
        pl.col("price").min().alias("low"),
        pl.col("price").last().alias("close"),
        pl.col("amount").sum().alias("volume"),
        pl.len().alias("trades"),
    )


@pytest.mark.parametrize("batch_size", [len, lambda _: 7, lambda _: 1_000])
def test_filled_minutes_are_published_at_1m_but_never_leak_into_roll_ups(
    xrp_trades: TradeBatch, batch_size
) -> None:
    """An illiquid pair: every roll-up equals polars on the trades, the 1m fill stays at 1m."""
    got = run(
        MultiTimeframeCandles.from_trades("XRP/ETH"),
        batches_of(xrp_trades, batch_size(xrp_trades)),
    )
    minutes = got[Timeframe.M1]
    traded = minutes.trades > 0
    assert (~traded).sum() > 0  # the pair is illiquid: filled minutes are published at 1m
    assert np.all(minutes.volume[~traded] == 0)
    np.testing.assert_array_equal(minutes.open[1:][~traded[1:]], minutes.close[:-1][~traded[1:]])
    for timeframe in ALL[1:]:
        expected = polars_from_trades(xrp_trades, timeframe)
        assert_same(got[timeframe], expected)
        np.testing.assert_array_equal(got[timeframe].trades, expected["trades"].to_numpy())


def test_a_bucket_of_untraded_minutes_only_gives_no_candle() -> None:
    core = MultiTimeframeCandles.from_trades("X/Y", [Timeframe.M5])
    trades = TradeBatch.from_columns(
        "X/Y", [4 * M, 11 * M, 12 * M], [5.0, 9.0, 8.0], [1.0, 1.0, 1.0]
    )
    got = run(core, [trades])
    assert got[Timeframe.M1].ts_ns.tolist() == [t * M for t in range(4, 13)]
    five = got[Timeframe.M5]
    assert five.ts_ns.tolist() == [0, 10 * M]  # 5m..10m held only filled minutes
    assert five.open.tolist() == [5.0, 9.0] and five.low.tolist() == [5.0, 8.0]
    assert five.trades.tolist() == [1, 2]


def test_flush_joins_buckets_closed_by_the_last_minutes_and_the_partial_one() -> None:
    core = MultiTimeframeCandles.from_trades("X/Y", [Timeframe.M5], allowed_lateness_ns=10 * M)
    trades = TradeBatch.from_columns(
        "X/Y", [0, 4 * M + NS_PER_SECOND, 6 * M], [1.0, 2.0, 3.0], [1.0, 1.0, 1.0]
    )
    assert core.update(trades).candles == {}
    flushed = core.flush()
    assert flushed.candles[Timeframe.M1].ts_ns.tolist() == [t * M for t in range(7)]
    five = flushed.candles[Timeframe.M5]
    assert five.ts_ns.tolist() == [0, 5 * M]
    assert five.close.tolist() == [2.0, 3.0] and five.trades.tolist() == [2, 1]


def test_late_trades_and_watermark_pass_through() -> None:
    core = MultiTimeframeCandles.from_trades("X/Y")
    core.update(TradeBatch.from_columns("X/Y", [0, 2 * M], [1.0, 2.0], [1.0, 1.0]))
    update = core.update(TradeBatch.from_columns("X/Y", [M], [5.0], [1.0]))
    assert update.late_count == 1 and update.watermark_ns == 2 * M
    assert update.late.trades.price.tolist() == [5.0]


def test_candle_input_passes_the_source_through_with_its_roll_ups(
    alts_5m_frame: pl.DataFrame,
) -> None:
    frame = alts_5m_frame.filter(pl.col("symbol") == "ETH/BTC")
    ts = frame["ts"].dt.epoch("ns").to_numpy()
    source = infer_timeframe(ts)
    assert source == Timeframe.M5
    candles = CandleBatch.from_columns(
        "ETH/BTC", source, ts, *(frame[c] for c in ("open", "high", "low", "close", "volume"))
    )
    core = MultiTimeframeCandles.from_candles("ETH/BTC", source)
    assert core.timeframes == (Timeframe.M5, Timeframe.M15, Timeframe.H1, Timeframe.H4)
    got = run(core, [candles.take(slice(i, i + 333)) for i in range(0, len(candles), 333)])
    np.testing.assert_array_equal(got[Timeframe.M5].close, candles.close)
    for timeframe in (Timeframe.M15, Timeframe.H1, Timeframe.H4):
        expected = polars_rollup(frame, timeframe)
        np.testing.assert_array_equal(got[timeframe].ts_ns, expected["ts"].dt.epoch("ns"))
        np.testing.assert_array_equal(got[timeframe].close, expected["close"].to_numpy())


def test_the_wrong_kind_of_input_is_refused() -> None:
    with pytest.raises(TypeError, match="builds candles from trades; got CandleBatch"):
        MultiTimeframeCandles.from_trades("X/Y").update(CandleBatch.empty("X/Y", Timeframe.M1))
    with pytest.raises(TypeError, match="rolls up 5m candles; got TradeBatch"):
        MultiTimeframeCandles.from_candles("X/Y", Timeframe.M5).update(TradeBatch.empty("X/Y"))
    with pytest.raises(ValueError, match="not coarser than the source timeframe 15m"):
        MultiTimeframeCandles.from_candles("X/Y", Timeframe.M15, [Timeframe.M5])


def test_infer_timeframe_reads_the_spacing_despite_gaps(btc_perp_1m: CandleBatch) -> None:
    assert infer_timeframe(btc_perp_1m.ts_ns) == Timeframe.M1  # the month has missing minutes
    assert infer_timeframe(np.array([0, 4, 12]) * Timeframe.H1.ns) == Timeframe.H4
    assert infer_timeframe(np.array([0, 3]) * Timeframe.M5.ns) == Timeframe.M15


@pytest.mark.parametrize(
    ("ts", "message"),
    [
        ([0], "cannot infer a timeframe from 1 candle"),
        ([0, 120 * NS_PER_SECOND], "spacing of 120 s is not a known timeframe"),
        ([30 * NS_PER_SECOND, 90 * NS_PER_SECOND], "is not aligned to 1m epoch boundaries"),
        ([M, 0], "must be strictly increasing"),
    ],
)
def test_infer_timeframe_refuses_what_it_cannot_read(ts: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        infer_timeframe(np.array(ts))
