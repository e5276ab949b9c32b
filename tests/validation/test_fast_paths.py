"""The validator's compiled fast paths decide exactly what the vectorized checks decide.

* the clean-batch proof: with it disabled (every batch through the row-by-row verdicts) a
  hostile stream gives the same good rows, dead letters and counts;
* the compiled outlier loop: same z-scores, medians and scales as :func:`robust_z` on the
  same windows, bit for bit;
* the dedupe memory: runs of consecutive ids, tiny for a venue's rising ids.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operators.validation import TradeValidator, ValidationConfig
from operators.validation._kernels import judge_until_outlier
from operators.validation.dedupe import RecentIds
from operators.validation.outliers import REFRESH_ROWS, robust_z
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
        prices, window, 0, 0, min_history, 1e9, 1e-4, REFRESH_ROWS, z, median, scale
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
