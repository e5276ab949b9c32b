"""Roll-ups of real 1m and 5m candles against polars' group_by_dynamic and pandas' resample."""

from __future__ import annotations

import copy
import itertools
import pickle

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.candles import CandleRollup
from operators.candles.aggregate import concat_candles
from operators.candles.calendars import calendar_for
from operators.candles.rollup import MAX_JOINED_BATCHES
from schemas.batches import CandleBatch
from schemas.common import NS_PER_MINUTE, Timeframe

M = NS_PER_MINUTE
ROLLUPS_OF_1M = [Timeframe.M5, Timeframe.M15, Timeframe.H1, Timeframe.H4]


def roll(
    candles: CandleBatch, rollup: CandleRollup, batch_size: int
) -> dict[Timeframe, CandleBatch]:
    out: dict[Timeframe, list[CandleBatch]] = {t: [] for t in rollup.targets}
    for start in range(0, len(candles), batch_size):
        for timeframe, batch in rollup.update(
            candles.take(slice(start, start + batch_size))
        ).items():
            out[timeframe].append(batch)
    for timeframe, batch in rollup.flush().items():
        out[timeframe].append(batch)
    return {t: concat_candles(rollup.symbol, t, parts) for t, parts in out.items()}


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


def assert_matches_polars(got: CandleBatch, expected: pl.DataFrame) -> None:
    np.testing.assert_array_equal(got.ts_ns, expected["ts"].dt.epoch("ns").to_numpy())
    for column in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(got, column), expected[column].to_numpy())
    # polars sums with Kahan compensation, we sum as numpy/pandas do: within an ulp or two
    np.testing.assert_allclose(got.volume, expected["volume"].to_numpy(), rtol=1e-12, atol=0)


def pandas_volume(frame: pl.DataFrame, timeframe: Timeframe) -> np.ndarray:
    series = pd.Series(frame["volume"].to_numpy(), index=frame["ts"].to_pandas())
    rule = timeframe.value.replace("m", "min")
    sums = series.resample(rule).sum()
    return sums[series.resample(rule).count() > 0].to_numpy()


@pytest.mark.parametrize("batch_size", [997, 45_031])
def test_btc_perp_month_rolls_up_like_polars_group_by_dynamic(
    btc_perp_1m: CandleBatch, btc_perp_frame: pl.DataFrame, batch_size: int
) -> None:
    got = roll(btc_perp_1m, CandleRollup("BTC-PERP", Timeframe.M1), batch_size)
    assert list(got) == ROLLUPS_OF_1M
    for timeframe, candles in got.items():
        assert_matches_polars(candles, polars_rollup(btc_perp_frame, timeframe))
    assert len(got[Timeframe.H4]) == 189
    assert got[Timeframe.H4].ts_ns[0] == btc_perp_1m.ts_ns[0] // Timeframe.H4.ns * Timeframe.H4.ns


@pytest.mark.skipif(
    int(pd.__version__.split(".")[0]) < 3,
    reason="pandas < 3 sums groups with Kahan compensation, not numpy's reduceat",
)
def test_rolled_up_volume_equals_pandas_resample_sum_bit_for_bit(
    btc_perp_1m: CandleBatch, btc_perp_frame: pl.DataFrame
) -> None:
    got = roll(btc_perp_1m, CandleRollup("BTC-PERP", Timeframe.M1), 1_000)
    for timeframe, candles in got.items():
        np.testing.assert_array_equal(candles.volume, pandas_volume(btc_perp_frame, timeframe))


def test_ten_pair_5m_basket_rolls_up_like_polars_per_symbol(alts_5m_frame: pl.DataFrame) -> None:
    symbols = alts_5m_frame["symbol"].unique(maintain_order=True).to_list()
    assert len(symbols) == 10
    for symbol in symbols:
        frame = alts_5m_frame.filter(pl.col("symbol") == symbol)
        candles = CandleBatch.from_columns(
            symbol,
            Timeframe.M5,
            frame["ts"].dt.epoch("ns").to_numpy(),
            *(frame[c].to_numpy() for c in ("open", "high", "low", "close", "volume")),
        )
        got = roll(candles, CandleRollup(symbol, Timeframe.M5), 500)
        assert list(got) == [Timeframe.M15, Timeframe.H1, Timeframe.H4]
        for timeframe, rolled in got.items():
            assert rolled.symbol == symbol and rolled.timeframe == timeframe
            assert_matches_polars(rolled, polars_rollup(frame, timeframe))


def ones(ts_minutes: list[int], close: list[float] | None = None) -> CandleBatch:
    closes = close if close is not None else [float(i + 1) for i in range(len(ts_minutes))]
    return CandleBatch.from_columns(
        "X/Y",
        Timeframe.M1,
        [t * M for t in ts_minutes],
        closes,
        [c + 1 for c in closes],
        [c - 0.5 for c in closes],
        closes,
        [1.0] * len(closes),
        [2] * len(closes),
    )


def test_a_bucket_closes_with_its_last_sub_candle_or_a_later_bucket() -> None:
    rollup = CandleRollup("X/Y", Timeframe.M1, [Timeframe.M5])
    assert rollup.update(ones([0, 1, 2])) == {}
    closed = rollup.update(ones([4], [7.0]))[Timeframe.M5]  # 00:04 ends the bucket
    assert closed.ts_ns.tolist() == [0]
    assert closed.volume.tolist() == [4.0] and closed.trades.tolist() == [8]
    assert (closed.open[0], closed.high[0], closed.low[0], closed.close[0]) == (1.0, 8.0, 0.5, 7.0)
    assert rollup.update(ones([6, 7])) == {}
    closed = rollup.update(ones([11]))[Timeframe.M5]  # 00:05–00:09 closes without 00:09
    assert closed.ts_ns.tolist() == [5 * M] and closed.trades.tolist() == [4]
    assert rollup.flush()[Timeframe.M5].ts_ns.tolist() == [10 * M]  # the partial last bucket
    assert rollup.flush() == {}


def test_data_starting_mid_bucket_gives_a_partial_first_bucket() -> None:
    got = roll(ones(list(range(13, 35))), CandleRollup("X/Y", Timeframe.M1, [Timeframe.M15]), 4)
    assert got[Timeframe.M15].ts_ns.tolist() == [0, 15 * M, 30 * M]
    assert got[Timeframe.M15].trades.tolist() == [2 * 2, 15 * 2, 5 * 2]


def test_buckets_align_to_utc_epoch_boundaries() -> None:
    start = 1_641_000_000 * 10**9 // M * M + 7 * M  # 2022-01-01 01:27 UTC
    candles = ones([0, 1])
    candles = CandleBatch.from_columns(
        "X/Y",
        Timeframe.M1,
        candles.ts_ns + start,
        candles.open,
        candles.high,
        candles.low,
        candles.close,
        candles.volume,
    )
    got = roll(candles, CandleRollup("X/Y", Timeframe.M1), 10)
    for timeframe, rolled in got.items():
        assert rolled.ts_ns.tolist() == [start // timeframe.ns * timeframe.ns]


@pytest.mark.parametrize(
    ("batches", "message"),
    [
        ([ones([0, 2, 1])], r"00:01:00\+00:00 .* out of order or duplicated"),
        ([ones([0, 1, 1])], r"00:01:00\+00:00 .* out of order or duplicated"),
        ([ones([3]), ones([2])], r"00:02:00\+00:00 .* comes after the candle at .*00:03:00"),
        ([ones([3]), ones([3])], r"00:03:00\+00:00 .* out of order or duplicated"),
    ],
)
def test_out_of_order_or_duplicated_input_is_refused_naming_the_candle(
    batches: list[CandleBatch], message: str
) -> None:
    rollup = CandleRollup("X/Y", Timeframe.M1, [Timeframe.M5])
    for batch in batches[:-1]:
        rollup.update(batch)
    with pytest.raises(ValueError, match=message):
        rollup.update(batches[-1])


def test_a_refused_batch_leaves_the_state_unchanged() -> None:
    rollup = CandleRollup("X/Y", Timeframe.M1, [Timeframe.M5])
    rollup.update(ones([0, 1]))
    with pytest.raises(ValueError):
        rollup.update(ones([2, 3, 3]))
    closed = rollup.update(ones([2, 3, 4]))
    assert closed[Timeframe.M5].trades.tolist() == [10]
    assert closed[Timeframe.M5].close.tolist() == [3.0]


def test_misaligned_or_mislabelled_input_is_refused() -> None:
    rollup = CandleRollup("X/Y", Timeframe.M1, [Timeframe.M5])
    shifted = CandleBatch.from_columns("X/Y", Timeframe.M1, [M + 1], [1], [1], [1], [1], [1])
    with pytest.raises(ValueError, match="not aligned to 1m epoch boundaries"):
        rollup.update(shifted)
    five = CandleBatch.from_columns("X/Y", Timeframe.M5, [0], [1], [1], [1], [1], [1])
    with pytest.raises(ValueError, match="5m candles sent to a roll-up of 1m candles"):
        rollup.update(five)
    other = CandleBatch.from_columns("A/B", Timeframe.M1, [0], [1], [1], [1], [1], [1])
    with pytest.raises(ValueError, match="'A/B' sent to the 'X/Y' roll-up"):
        rollup.update(other)
    minute = CandleBatch.from_columns("X/Y", Timeframe.M1, [M], [1], [1], [1], [1], [1])
    rollup.update(minute)
    with pytest.raises(ValueError, match="out of order or duplicated"):
        rollup.update(minute)  # one candle, as a live feed sends: the same checks


@pytest.mark.parametrize(
    ("source", "targets"),
    [
        (Timeframe.M5, [Timeframe.M1]),
        (Timeframe.H1, [Timeframe.M15, Timeframe.H4]),
        (Timeframe.M5, [Timeframe.M5]),
    ],
)
def test_targets_not_coarser_than_the_source_are_refused(
    source: Timeframe, targets: list[Timeframe]
) -> None:
    with pytest.raises(
        ValueError, match=f"is not coarser than the source timeframe {source.value}"
    ):
        CandleRollup("X/Y", source, targets)


def test_default_targets_are_every_coarser_timeframe() -> None:
    assert CandleRollup("X/Y", Timeframe.M15).targets == (Timeframe.H1, Timeframe.H4)
    assert CandleRollup("X/Y", Timeframe.H4).targets == ()
    chosen = CandleRollup("X/Y", Timeframe.M1, [Timeframe.H4, Timeframe.M5, Timeframe.H4])
    assert chosen.targets == (Timeframe.M5, Timeframe.H4)


def test_resuming_from_a_pickled_state_gives_the_output_of_a_single_run(
    btc_perp_1m: CandleBatch,
) -> None:
    head, tail = btc_perp_1m.take(slice(0, 20_011)), btc_perp_1m.take(slice(20_011, None))
    single = roll(btc_perp_1m, CandleRollup("BTC-PERP", Timeframe.M1), 20_011)
    rollup = CandleRollup("BTC-PERP", Timeframe.M1)
    first = rollup.update(head)
    rest = roll(tail, pickle.loads(pickle.dumps(rollup)), 20_011)
    for timeframe, candles in single.items():
        joined = concat_candles("BTC-PERP", timeframe, [first[timeframe], rest[timeframe]])
        for column in ("ts_ns", "open", "high", "low", "close", "volume", "trades"):
            np.testing.assert_array_equal(getattr(joined, column), getattr(candles, column))


def test_a_roll_up_without_targets_resumes_from_its_pickled_state(
    btc_perp_1m: CandleBatch,
) -> None:
    """A flow on its coarsest timeframe only (4h, or just 1m configured) rolls nothing up;
    its snapshot once failed to restore (a kill -9 then left the flow unable to resume)."""
    rollup = CandleRollup("BTC-PERP", Timeframe.M1, [])
    rollup.update(btc_perp_1m.take(slice(0, 3)))
    restored = pickle.loads(pickle.dumps(rollup))
    assert restored.targets == () and restored._pending == {}
    assert restored.update(btc_perp_1m.take(slice(3, 6))) == {}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 44_000), max_size=12), st.integers(0, 44_000))
def test_any_batch_split_gives_bit_identical_roll_ups(
    btc_perp_1m: CandleBatch, cuts: list[int], offset: int
) -> None:
    window = btc_perp_1m.take(slice(offset, offset + 1_000))
    bounds = [0, *sorted({c % max(len(window), 1) for c in cuts} - {0}), len(window)]
    rollup = CandleRollup("BTC-PERP", Timeframe.M1)
    out: dict[Timeframe, list[CandleBatch]] = {t: [] for t in rollup.targets}
    for lo, hi in itertools.pairwise(bounds):
        for timeframe, batch in rollup.update(window.take(slice(lo, hi))).items():
            out[timeframe].append(batch)
    for timeframe, batch in rollup.flush().items():
        out[timeframe].append(batch)
    whole = roll(window, CandleRollup("BTC-PERP", Timeframe.M1), len(window))
    for timeframe, candles in whole.items():
        split = concat_candles("BTC-PERP", timeframe, out[timeframe])
        for column in ("ts_ns", "open", "high", "low", "close", "volume", "trades"):
            np.testing.assert_array_equal(getattr(split, column), getattr(candles, column))


class _GeneralPathOnly(CandleRollup):
    """The roll-up re-bucketing its pending rows on every batch: the definition the live-feed
    fast path (joining a batch to an open bucket) must agree with, batch by batch."""

    def _joins_open_bucket(self, target: Timeframe, candles: CandleBatch, ends: int) -> bool:
        return False


@pytest.mark.parametrize("calendar_name", ["24/7", "XNYS"])
def test_a_live_feed_with_snapshots_rolls_up_as_the_general_path(
    btc_perp_1m: CandleBatch, calendar_name: str
) -> None:
    """Mostly one-minute batches (what a live feed sends): pending buckets are joined batch by
    batch, well past the concatenation bound, while snapshots are copied at epoch ends and
    pickled later, and the core is restored from pickles along the way. Every batch closes
    exactly the candles the general path closes on it, bit for bit, and a copy taken as a
    snapshot does not move with the original."""
    calendar = calendar_for(calendar_name)
    targets = [*ROLLUPS_OF_1M, Timeframe.D1, Timeframe.W1]
    window = btc_perp_1m.take(slice(1_000, 12_000))  # 11,000 minutes: days and a week close
    live = CandleRollup("BTC-PERP", Timeframe.M1, targets, calendar=calendar)
    reference = _GeneralPathOnly("BTC-PERP", Timeframe.M1, targets, calendar=calendar)
    sizes = itertools.cycle([1, 1, 1, 2, 1, 1, 3, 1, 1, 1, 7, 1])
    start, batch_number, joined = 0, 0, 0
    snapshot, frozen = None, b""
    while start < len(window):
        batch = window.take(slice(start, start + next(sizes)))
        start, batch_number = start + len(batch), batch_number + 1
        got, expected = live.update(batch), reference.update(batch)
        assert got.keys() == expected.keys()
        for timeframe, candles in expected.items():
            assert pickle.dumps(got[timeframe]) == pickle.dumps(candles)
        assert all(len(parts) < MAX_JOINED_BATCHES for parts in live._joined.values())
        joined += bool(live._joined[Timeframe.H1])
        if batch_number % 97 == 0:  # an epoch ends: Bytewax copies the state ...
            state, expected_state = live.__getstate__(), reference.__getstate__()
            assert state.keys() == expected_state.keys()
            for name, value in state.items():  # the same state (the key order may differ)
                assert pickle.dumps(value) == pickle.dumps(expected_state[name]), name
            if snapshot is not None:  # ... and writes the earlier copy out later
                assert pickle.dumps(snapshot) == frozen
            snapshot = copy.deepcopy(live)
            frozen = pickle.dumps(snapshot)
        if batch_number % 251 == 0:
            live = pickle.loads(pickle.dumps(live))
    # an hour's minutes were joined, bucket after bucket (24/7; the NYSE is open 6.5 h a day)
    assert joined > batch_number // (2 if calendar.always_open else 20)
    assert pickle.dumps(live.flush()) == pickle.dumps(reference.flush())
