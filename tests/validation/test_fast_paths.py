"""The validator's compiled fast paths decide exactly what the vectorized checks decide.

* the clean-batch proof: with it disabled (every batch through the row-by-row verdicts) a
  hostile stream gives the same good rows, dead letters and counts;
* the compiled outlier loop: same z-scores, medians and scales as :func:`robust_z` on the
  same windows, bit for bit; its sorted copy of the window gives ``np.median``'s median and
  MAD, and a detector using it decides what one selecting over the window each chunk decides
  (the loop before the sorted copy, kept here as the reference), through outliers, level
  shifts and restores;
* the dedupe memory: runs of consecutive ids, tiny for a venue's rising ids.
"""

from __future__ import annotations

import copy
import itertools
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operators.validation import TradeValidator, ValidationConfig, outliers
from operators.validation._kernels import (
    judge_until_outlier,
    sorted_median,
    sorted_median_deviation,
)
from operators.validation.dedupe import RecentIds
from operators.validation.outliers import REFRESH_ROWS, PriceOutlierDetector, robust_z
from schemas.batches import TradeBatch

T0 = 1_610_064_000 * 1_000_000_000
CONFIG = ValidationConfig(
    dedupe_window=50, outlier_window=40, outlier_min_history=10, resync_after=8
)


def hostile_stream(seed: int, n: int) -> list[TradeBatch]:
    rng = np.random.default_rng(seed)
    price = 100 + np.cumsum(rng.normal(0, 0.05, n))
    price[rng.random(n) < 0.02] *= 10
    price[n // 2 :] *= 0.6  # a level shift
    price[rng.random(n) < 0.01] = np.nan
    price[rng.random(n) < 0.01] = -1.0
    amount = rng.random(n) + 0.01
    amount[rng.random(n) < 0.01] = 0.0
    ts = T0 + np.arange(n) * 1_000_000_000
    ts[rng.random(n) < 0.01] += 10**15  # time jumps
    ts[rng.random(n) < 0.01] -= 10**9 * 5  # a little back in time
    ids = np.arange(n)
    repeated = rng.random(n) < 0.03
    ids[repeated] = rng.integers(0, n, repeated.sum())
    ids[rng.random(n) < 0.02] = -1
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(30, n - 1), replace=False))
    bounds = zip(np.r_[0, cuts], np.r_[cuts, n], strict=True)
    return [
        TradeBatch.from_columns("X/Y", ts[a:b], price[a:b], amount[a:b], ids[a:b])
        for a, b in bounds
    ]


def outcome(validator: TradeValidator, batches: list[TradeBatch]) -> list[tuple]:
    out = []
    for batch in batches:
        good, dead = validator.validate(batch)
        out.append((good.trade_id.tolist(), [(d.reason, d.detail, d.raw) for d in dead]))
    return [*out, dict(validator.counts)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(20, 600))
def test_the_clean_batch_proof_changes_nothing(seed: int, n: int) -> None:
    batches = hostile_stream(seed, n)
    fast = TradeValidator("X/Y", CONFIG)
    slow = TradeValidator("X/Y", CONFIG)
    slow._provably_clean = lambda batch: False  # type: ignore[method-assign]
    assert outcome(fast, batches) == outcome(slow, batches)


def test_clean_batches_take_the_fast_path() -> None:
    validator = TradeValidator("X/Y", CONFIG)
    batch = TradeBatch.from_columns("X/Y", T0 + np.arange(5), [100.0] * 5, [1.0] * 5, range(5))
    assert validator._provably_clean(batch)
    dup = TradeBatch.from_columns("X/Y", T0 + np.arange(5, 7), [100.0] * 2, [1.0] * 2, [4, 9])
    validator.validate(batch)
    assert not validator._provably_clean(dup)  # id 4 is not above the highest accepted id


@pytest.mark.parametrize("seed", range(6))
def test_compiled_outlier_loop_matches_robust_z_on_every_window(seed: int) -> None:
    rng = np.random.default_rng(seed)
    prices = 50 + np.cumsum(rng.normal(0, 0.01, 700))  # threshold 1e9: judged to the end
    capacity, min_history = 64, 16
    window = np.zeros(capacity)
    z, median, scale = np.zeros(700), np.empty(700), np.empty(700)
    consumed, next_slot, filled = judge_until_outlier(
        prices,
        window,
        0,
        0,
        min_history,
        1e9,
        1e-4,
        REFRESH_ROWS,
        z,
        median,
        scale,
    )
    assert (consumed, filled) == (700, capacity) and next_slot == 700 % capacity
    history = list(prices[:min_history])
    for start in range(min_history, 700, REFRESH_ROWS):
        chunk = prices[start : start + REFRESH_ROWS]
        ref_z, ref_median, ref_scale = robust_z(chunk, np.array(history[-capacity:]), 1e-4)
        assert z[start : start + len(chunk)].tobytes() == ref_z.tobytes()
        assert np.all(median[start : start + len(chunk)] == ref_median)
        assert np.all(scale[start : start + len(chunk)] == ref_scale)
        history += list(chunk)


def test_compiled_outlier_loop_stops_before_the_chunk_holding_an_outlier() -> None:
    prices = np.full(100, 10.0) + np.arange(100) * 1e-3
    prices[70] = 1_000.0
    window = np.zeros(50)
    z, median, scale = np.zeros(100), np.empty(100), np.empty(100)
    consumed, _, filled = judge_until_outlier(
        prices, window, 0, 0, 10, 10.0, 1e-4, REFRESH_ROWS, z, median, scale
    )
    chunk_start = 10 + (70 - 10) // REFRESH_ROWS * REFRESH_ROWS
    assert consumed == chunk_start and filled == min(50, chunk_start)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.sampled_from([99.5, 100.0, 100.5]), st.floats(50, 150)),
        min_size=1,
        max_size=80,
    ),
    padding=st.integers(0, 5),
)
def test_sorted_window_statistics_are_numpys(values: list[float], padding: int) -> None:
    window = np.array(values)
    ordered = np.concatenate([np.sort(window), np.full(padding, 1e9)])  # only [:n] is read
    median = sorted_median(ordered, window.size)
    assert median == np.median(window)
    mad = sorted_median_deviation(ordered, window.size, median)
    assert mad == np.median(np.abs(window - median))


def reference_loop(
    prices, window, next_slot, filled, min_history, threshold, relative, chunk, z, m, s
):
    """The compiled loop as it was before the sorted copy: two selections over the window per
    chunk (``robust_z``), prices appended one by one."""
    capacity, position, n = window.size, 0, prices.size
    while position < n:
        if filled < min_history:
            end = position + min(min_history - filled, n - position)
        else:
            end = min(position + chunk, n)
            zs, median, scale = robust_z(prices[position:end], window[:filled], relative)
            if np.any(zs > threshold):
                return position, next_slot, filled
            z[position:end], m[position:end], s[position:end] = zs, median, scale
        for price in prices[position:end]:
            window[next_slot] = price
            next_slot, filled = (next_slot + 1) % capacity, min(capacity, filled + 1)
        position = end
    return position, next_slot, filled


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    capacity=st.sampled_from([7, 31, 32, 33, 100]),
    tick=st.sampled_from([0.0, 0.05, 1.0]),
    cuts=st.lists(st.integers(1, 400), max_size=6),
)
def test_the_sorted_window_decides_what_selection_decides(
    seed: int, capacity: int, tick: float, cuts: list[int]
) -> None:
    """Random walks (rounded to a tick: many equal prices) with outliers and a level shift, in
    batches cut anywhere, with a restore from a pickle halfway."""
    rng = np.random.default_rng(seed)
    n = 800
    prices = 100 + np.cumsum(rng.normal(0, 0.05, n))
    prices[rng.random(n) < 0.03] *= 1.5
    prices[n // 2 :] *= 0.7
    if tick:
        prices = np.round(prices / tick) * tick
    bounds = sorted({0, n // 2, n, *(c * 2 for c in cuts)})

    def run(loop) -> list[bytes]:
        detector = PriceOutlierDetector(capacity, min(capacity, 5), 6.0, 1e-5, 12)
        seen = []
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(outliers, "_judge", loop)
            for start, end in itertools.pairwise(bounds):
                if start == n // 2:
                    detector = pickle.loads(pickle.dumps(detector))
                check = detector.check(prices[start:end], np.ones(end - start, dtype=bool))
                seen += [a.tobytes() for a in (check.flagged, check.z, check.median, check.scale)]
        return [*seen, detector.history.tobytes()]

    assert run(judge_until_outlier) == run(reference_loop)


def test_rising_ids_are_remembered_as_one_run() -> None:
    ids = RecentIds(100_000)
    for start in range(0, 1_000_000, 5_000):
        ids.remember(np.arange(start, start + 5_000))
    assert ids.runs.tolist() == [[900_000, 999_999]] and ids.count == 100_000
    assert len(pickle.dumps(ids)) < 1_024
    check = ids.duplicates(np.array([899_999, 900_000, 999_999, 1_000_000]), np.ones(4, bool))
    assert check.tolist() == [False, True, True, False]


def test_validator_state_stays_small_and_copies_cheaply() -> None:
    validator = TradeValidator("X/Y")
    n = 200_000
    batch = TradeBatch.from_columns(
        "X/Y",
        T0 + np.arange(n) * 1_000_000,
        100 + np.sin(np.arange(n)) * 0.01,
        np.ones(n),
        np.arange(n),
    )
    validator.validate(batch)
    assert len(pickle.dumps(validator)) < 16 * 1024  # the 500-price window dominates
    clone = copy.deepcopy(validator)
    assert clone.config is validator.config and clone._ids is not validator._ids
    more = TradeBatch.from_columns("X/Y", [T0 + n * 1_000_000], [100.0], [1.0], [n])
    assert outcome(clone, [more]) == outcome(validator, [more])
