"""Event-time rules of the 1-minute builder, on small hand-computed streams."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from operators.candles import MinuteCandleBuilder
from operators.candles.aggregate import concat_candles, concat_trades
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import NS_PER_MINUTE, NS_PER_SECOND, Timeframe

M = NS_PER_MINUTE
S = NS_PER_SECOND
T0 = 1_600_000_020 * S // M * M  # a whole minute in 2020


def trades(ts: list[int], price: list[float], amount: list[float] | None = None) -> TradeBatch:
    amounts = amount if amount is not None else [1.0] * len(ts)
    return TradeBatch.from_columns("X/Y", [T0 + t for t in ts], price, amounts, range(len(ts)))


def rows(candles: CandleBatch) -> list[tuple[int, float, float, float, float, float, int]]:
    """(minute index, open, high, low, close, volume, trades) per candle."""
    return [
        (int((t - T0) // M), o, h, lo, c, v, int(n))
        for t, o, h, lo, c, v, n in zip(
            candles.ts_ns,
            candles.open,
            candles.high,
            candles.low,
            candles.close,
            candles.volume,
            candles.trades,
            strict=True,
        )
    ]


def test_out_of_order_trades_inside_an_open_minute_are_merged_by_event_time() -> None:
    builder = MinuteCandleBuilder("X/Y")
    first = builder.update(trades([30 * S, 10 * S, 50 * S, 5 * S], [3.0, 2.0, 4.0, 1.0]))
    assert len(first.candles) == 0 and first.late_count == 0
    second = builder.update(trades([20 * S, M], [9.0, 5.0]))  # 20 s is still in the open minute
    assert second.late_count == 0
    assert rows(second.candles) == [(0, 1.0, 9.0, 1.0, 4.0, 5.0, 5)]


def test_ties_open_with_the_first_arrival_and_close_with_the_last() -> None:
    builder = MinuteCandleBuilder("X/Y")
    builder.update(trades([7 * S, 7 * S, 40 * S, 40 * S], [2.0, 3.0, 5.0, 6.0]))
    builder.update(trades([7 * S, 40 * S], [1.0, 4.0]))  # same times, arriving later
    closed = builder.update(trades([M], [8.0])).candles
    assert rows(closed) == [(0, 2.0, 6.0, 1.0, 4.0, 6.0, 6)]


def test_trades_behind_the_watermark_go_to_the_late_output_and_are_counted() -> None:
    builder = MinuteCandleBuilder("X/Y")
    builder.update(trades([10 * S, M + 30 * S], [1.0, 2.0]))  # minute 0 closed
    update = builder.update(trades([59 * S, M + 40 * S, 20 * S], [7.0, 3.0, 8.0], [2, 1, 4]))
    assert update.late_count == 2 and builder.late_total == 2
    assert update.late.trades.ts_ns.tolist() == [T0 + 59 * S, T0 + 20 * S]
    assert update.late.trades.price.tolist() == [7.0, 8.0]
    assert update.late.trades.amount.tolist() == [2.0, 4.0]
    # the watermark when each late trade arrived: the newest trade seen before it
    assert update.late.watermark_ns.tolist() == [T0 + M + 30 * S, T0 + M + 40 * S]
    assert update.watermark_ns == T0 + M + 40 * S
    records = update.late.to_records()
    assert [r.trade_id for r in records] == ["0", "2"]
    assert records[1].watermark.timestamp() == (T0 + M + 40 * S) / S
    # the closed minute never saw them; the open one got the on-time trade
    flushed = builder.flush().candles
    assert rows(flushed) == [(1, 2.0, 3.0, 2.0, 3.0, 2.0, 2)]


def test_late_trades_are_never_merged_into_an_already_closed_candle() -> None:
    builder = MinuteCandleBuilder("X/Y")
    closed = builder.update(trades([10 * S, M], [1.0, 2.0])).candles
    assert rows(closed) == [(0, 1.0, 1.0, 1.0, 1.0, 1.0, 1)]
    late = builder.update(trades([30 * S], [100.0]))
    assert late.late_count == 1 and len(late.candles) == 0
    assert rows(builder.flush().candles) == [(1, 2.0, 2.0, 2.0, 2.0, 1.0, 1)]


def test_allowed_lateness_keeps_minutes_open_longer() -> None:
    builder = MinuteCandleBuilder("X/Y", allowed_lateness_ns=90 * S)
    update = builder.update(trades([10 * S, M + 30 * S, 2 * M + 20 * S], [1.0, 2.0, 3.0]))
    assert len(update.candles) == 0  # watermark = 2:20 − 1:30 = 0:50: minute 0 still open
    assert update.watermark_ns == T0 + 50 * S
    update = builder.update(trades([40 * S], [9.0]))  # would be late without the allowance
    assert update.late_count == 0 and len(update.candles) == 0
    update = builder.update(trades([2 * M + 31 * S], [4.0]))  # watermark 1:01 → minute 0 closes
    assert rows(update.candles) == [(0, 1.0, 9.0, 1.0, 9.0, 2.0, 2)]
    assert builder.update(trades([50 * S], [5.0])).late_count == 1  # minute 0 is closed now
    assert rows(builder.flush().candles) == [
        (1, 2.0, 2.0, 2.0, 2.0, 1.0, 1),
        (2, 3.0, 4.0, 3.0, 4.0, 2.0, 2),
    ]


def test_a_minute_closes_exactly_when_the_watermark_reaches_its_end() -> None:
    builder = MinuteCandleBuilder("X/Y", allowed_lateness_ns=5 * S)
    assert len(builder.update(trades([0, M + 4 * S], [1.0, 2.0])).candles) == 0
    assert rows(builder.update(trades([M + 5 * S], [2.0])).candles) == [
        (0, 1.0, 1.0, 1.0, 1.0, 1.0, 1)
    ]


def test_empty_minutes_between_trades_are_zero_volume_candles_at_the_previous_close() -> None:
    builder = MinuteCandleBuilder("X/Y")
    update = builder.update(trades([10 * S, 20 * S, 3 * M + 5 * S], [2.0, 1.5, 4.0], [1, 2, 3]))
    assert rows(update.candles) == [
        (0, 2.0, 2.0, 1.5, 1.5, 3.0, 2),
        (1, 1.5, 1.5, 1.5, 1.5, 0.0, 0),
        (2, 1.5, 1.5, 1.5, 1.5, 0.0, 0),
    ]
    # a gap that spans whole batches: carried from the last emitted close
    assert rows(builder.update(trades([5 * M], [6.0])).candles) == [
        (3, 4.0, 4.0, 4.0, 4.0, 3.0, 1),
        (4, 4.0, 4.0, 4.0, 4.0, 0.0, 0),
    ]
    assert rows(builder.flush().candles) == [(5, 6.0, 6.0, 6.0, 6.0, 1.0, 1)]
    assert len(builder.flush().candles) == 0  # nothing after the last trade, flush is idempotent


def test_without_fill_untraded_minutes_are_absent() -> None:
    builder = MinuteCandleBuilder("X/Y", fill_empty=False)
    builder.update(trades([10 * S, 3 * M], [2.0, 4.0]))
    assert [r[0] for r in rows(builder.flush().candles)] == [3]
    builder = MinuteCandleBuilder("X/Y", fill_empty=False)
    assert [r[0] for r in rows(builder.update(trades([10 * S, 3 * M], [2.0, 4.0])).candles)] == [0]


def test_no_candle_before_the_first_trade_and_empty_batches_are_harmless() -> None:
    builder = MinuteCandleBuilder("X/Y")
    empty = builder.update(TradeBatch.empty("X/Y"))
    assert len(empty.candles) == 0 and empty.watermark_ns is None
    assert len(builder.flush().candles) == 0
    update = builder.update(trades([10 * M + 1, 12 * M], [1.0, 2.0]))
    assert [r[0] for r in rows(update.candles)] == [10, 11]


def test_a_trade_for_a_minute_closed_by_flush_is_late() -> None:
    builder = MinuteCandleBuilder("X/Y")
    builder.update(trades([10 * S], [1.0]))
    assert rows(builder.flush().candles) == [(0, 1.0, 1.0, 1.0, 1.0, 1.0, 1)]
    assert builder.update(trades([50 * S], [2.0])).late_count == 1


def test_a_trade_behind_the_newest_but_in_an_open_minute_leaves_the_watermark() -> None:
    builder = MinuteCandleBuilder("X/Y", allowed_lateness_ns=45 * S)
    assert builder.update(trades([130 * S], [1.0])).watermark_ns == T0 + 85 * S
    update = builder.update(trades([100 * S, 110 * S], [2.0, 3.0]))  # in order, behind 130 s
    assert (update.late_count, update.watermark_ns) == (0, T0 + 85 * S)
    assert rows(builder.flush().candles) == [
        (1, 2.0, 3.0, 2.0, 3.0, 2.0, 2),
        (2, 1.0, 1.0, 1.0, 1.0, 1.0, 1),
    ]


def test_trades_kept_open_by_a_long_lateness_close_with_their_minute() -> None:
    """Minutes close while later trades that arrived earlier stay open: the oldest open trade
    (310 s, arrived after 400 s) decides when the next minute closes."""
    builder = MinuteCandleBuilder("X/Y", allowed_lateness_ns=150 * S)
    for ts in (400, 250, 310):
        assert not len(builder.update(trades([ts * S], [ts / 100])).candles)
    closed = builder.update(trades([451 * S], [4.51])).candles  # watermark 301 s
    assert rows(closed) == [(4, 2.5, 2.5, 2.5, 2.5, 1.0, 1)]
    closed = builder.update(trades([511 * S], [5.11])).candles  # watermark 361 s
    assert rows(closed) == [(5, 3.1, 3.1, 3.1, 3.1, 1.0, 1)]


def test_trades_a_nanosecond_apart_across_a_minute_boundary_close_in_their_own_minutes() -> None:
    builder = MinuteCandleBuilder("X/Y")
    closed = builder.update(trades([0, M - 1, M, 3 * M], [1.0, 2.0, 3.0, 4.0])).candles
    assert rows(closed) == [
        (0, 1.0, 2.0, 1.0, 2.0, 2.0, 2),
        (1, 3.0, 3.0, 3.0, 3.0, 1.0, 1),
        (2, 3.0, 3.0, 3.0, 3.0, 0.0, 0),
    ]


@pytest.mark.parametrize(
    ("column", "value"),
    [("price", 0.0), ("price", float("nan")), ("amount", -1.0), ("amount", float("inf"))],
)
def test_invalid_values_are_refused_naming_the_field_and_value(column: str, value: float) -> None:
    builder = MinuteCandleBuilder("X/Y")
    builder.update(trades([0], [1.0]))
    price, amount = [1.0, 1.0], [1.0, 1.0]
    (price if column == "price" else amount)[1] = value
    with pytest.raises(ValueError, match=rf"{column} must be finite and > 0; trade 1 .*{value}"):
        builder.update(trades([S, 2 * S], price, amount))
    # the refused batch left the state untouched
    assert rows(builder.flush().candles) == [(0, 1.0, 1.0, 1.0, 1.0, 1.0, 1)]


def test_a_batch_of_another_symbol_is_refused() -> None:
    with pytest.raises(ValueError, match="'A/B' sent to the 'X/Y' builder"):
        MinuteCandleBuilder("X/Y").update(TradeBatch.from_columns("A/B", [0], [1.0], [1.0]))


def test_negative_lateness_is_refused() -> None:
    with pytest.raises(ValueError, match="allowed_lateness_ns must be >= 0"):
        MinuteCandleBuilder("X/Y", allowed_lateness_ns=-1)


def run(builder: MinuteCandleBuilder, batches: list[TradeBatch]) -> tuple[CandleBatch, TradeBatch]:
    candles, late = [], []
    for batch in batches:
        update = builder.update(batch)
        candles.append(update.candles)
        late.append(update.late.trades)
    candles.append(builder.flush().candles)
    return concat_candles("X/Y", Timeframe.M1, candles), concat_trades("X/Y", late)


def test_resuming_from_a_pickled_state_gives_the_output_of_a_single_run(
    xrp_trades: TradeBatch,
) -> None:
    # real trades, arrival order perturbed so that some are late and some merge out of order
    rng = np.random.default_rng(7)
    order = np.argsort(np.arange(len(xrp_trades)) + rng.integers(0, 40, len(xrp_trades)))
    stream = xrp_trades.take(order)
    batches = [stream.take(slice(i, i + 500)) for i in range(0, len(stream), 500)]
    options = {"allowed_lateness_ns": 20 * S}
    single_candles, single_late = run(MinuteCandleBuilder("XRP/ETH", **options), batches)
    assert len(single_late) > 0

    builder = MinuteCandleBuilder("XRP/ETH", **options)
    head = [builder.update(b) for b in batches[:9]]
    restored = pickle.loads(pickle.dumps(builder))
    assert restored.open_since_ns == builder.open_since_ns
    tail_candles, tail_late = run(restored, batches[9:])
    candles = concat_candles("XRP/ETH", Timeframe.M1, [*(u.candles for u in head), tail_candles])
    late = concat_trades("XRP/ETH", [*(u.late.trades for u in head), tail_late])
    for column in ("ts_ns", "open", "high", "low", "close", "volume", "trades"):
        np.testing.assert_array_equal(getattr(candles, column), getattr(single_candles, column))
    np.testing.assert_array_equal(late.trade_id, single_late.trade_id)
    assert restored.late_total == len(single_late)
