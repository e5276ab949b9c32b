"""Property tests: the vectorized builder against a plain, one-trade-at-a-time reference."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.candles import MinuteCandleBuilder
from operators.candles.aggregate import concat_candles
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import NS_PER_MINUTE, NS_PER_SECOND, Timeframe

M = NS_PER_MINUTE
T0 = 1_500_000_000 * NS_PER_SECOND // M * M

Trade = tuple[int, float, float]  # (ts_ns, price, amount)
Candle = tuple[int, float, float, float, float, float, int]


def reference_minutes(
    trades: Sequence[Trade], lateness: int, fill: bool
) -> tuple[list[Candle], list[int]]:
    """Trade by trade, as the rules read: returns all candles and the indices of late trades."""
    newest: int | None = None
    open_since: int | None = None
    minutes: dict[int, list[tuple[int, int, float, float]]] = {}
    late: list[int] = []
    for i, (ts, price, amount) in enumerate(trades):
        if open_since is not None and ts < open_since:
            late.append(i)
            continue
        minutes.setdefault(ts // M * M, []).append((ts, i, price, amount))
        newest = ts if newest is None else max(newest, ts)
        open_since = (newest - lateness) // M * M  # newest only grows
    candles: list[Candle] = []
    previous_close = math.nan
    start = min(minutes, default=0)
    stop = max(minutes, default=-M)
    for minute in range(start, stop + M, M):
        rows = sorted(minutes.get(minute, []))  # by time, then by arrival
        if rows:
            prices = [r[2] for r in rows]
            volume = math.fsum(r[3] for r in rows)
            candles.append(
                (minute, prices[0], max(prices), min(prices), prices[-1], volume, len(rows))
            )
            previous_close = prices[-1]
        elif fill:
            candles.append((minute, *[previous_close] * 4, 0.0, 0))
    return candles, late


def run_builder(
    trades: Sequence[Trade], cuts: Sequence[int], lateness: int, fill: bool
) -> tuple[list[Candle], list[int]]:
    batch = TradeBatch.from_columns(
        "X/Y",
        [t[0] for t in trades],
        [t[1] for t in trades],
        [t[2] for t in trades],
        range(len(trades)),
    )
    builder = MinuteCandleBuilder("X/Y", allowed_lateness_ns=lateness, fill_empty=fill)
    bounds = [0, *sorted(set(cuts)), len(trades)]
    out: list[CandleBatch] = []
    late: list[int] = []
    for lo, hi in itertools.pairwise(bounds):
        update = builder.update(batch.take(slice(lo, hi)))
        out.append(update.candles)
        late.extend(update.late.trades.trade_id.tolist())
    out.append(builder.flush().candles)
    c = concat_candles("X/Y", Timeframe.M1, out)
    candles = [
        (int(t), float(o), float(h), float(lo), float(cl), float(v), int(n))
        for t, o, h, lo, cl, v, n in zip(
            c.ts_ns, c.open, c.high, c.low, c.close, c.volume, c.trades, strict=True
        )
    ]
    return candles, late


def assert_same_candles(got: list[Candle], expected: list[Candle]) -> None:
    assert [c[:5] + c[6:] for c in got] == [c[:5] + c[6:] for c in expected]
    for g, e in zip(got, expected, strict=True):  # volume: summation order may differ by an ulp
        assert math.isclose(g[5], e[5], rel_tol=1e-12)


prices = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
amounts = st.floats(min_value=1e-8, max_value=1e5, allow_nan=False, allow_infinity=False)
offsets = st.integers(min_value=0, max_value=12 * M)


@st.composite
def sorted_trades(draw: st.DrawFn) -> list[Trade]:
    times = sorted(draw(st.lists(offsets, min_size=1, max_size=60)))
    return [(T0 + t, draw(prices), draw(amounts)) for t in times]


@st.composite
def unordered_trades(draw: st.DrawFn) -> list[Trade]:
    """Mostly forward in time with jitter back by up to 3 minutes: some late, some merged.

    Whole seconds, so that equal times (ties decided by arrival order) are frequent.
    """
    steps = draw(st.lists(st.integers(0, 40), min_size=1, max_size=60))
    jitter = draw(st.lists(st.integers(0, 180), min_size=len(steps), max_size=len(steps)))
    seconds = np.cumsum(steps) - np.array(jitter)
    return [(T0 + 5 * M + int(t) * NS_PER_SECOND, draw(prices), draw(amounts)) for t in seconds]


cut_lists = st.lists(st.integers(min_value=1, max_value=59), max_size=8)


@settings(max_examples=150, deadline=None)
@given(sorted_trades(), cut_lists, st.booleans())
def test_sorted_trades_match_the_reference(
    trades: list[Trade], cuts: list[int], fill: bool
) -> None:
    cuts = [c for c in cuts if c < len(trades)]
    got, late = run_builder(trades, cuts, 0, fill)
    expected, expected_late = reference_minutes(trades, 0, fill)
    assert late == expected_late == []
    assert_same_candles(got, expected)


@settings(max_examples=150, deadline=None)
@given(
    unordered_trades(), cut_lists, st.sampled_from([0, 30 * NS_PER_SECOND, 2 * M]), st.booleans()
)
def test_unordered_trades_match_the_reference(
    trades: list[Trade], cuts: list[int], lateness: int, fill: bool
) -> None:
    cuts = [c for c in cuts if c < len(trades)]
    got, late = run_builder(trades, cuts, lateness, fill)
    expected, expected_late = reference_minutes(trades, lateness, fill)
    assert late == expected_late
    assert_same_candles(got, expected)


@settings(max_examples=100, deadline=None)
@given(unordered_trades(), cut_lists, cut_lists, st.sampled_from([0, 45 * NS_PER_SECOND]))
def test_any_batch_split_gives_bit_identical_output(
    trades: list[Trade], cuts_a: list[int], cuts_b: list[int], lateness: int
) -> None:
    a = run_builder(trades, [c for c in cuts_a if c < len(trades)], lateness, True)
    b = run_builder(trades, [c for c in cuts_b if c < len(trades)], lateness, True)
    whole = run_builder(trades, [], lateness, True)
    assert a == b == whole  # exact, volume included
