"""The stateful checks on their own: time guard, recent ids, robust outliers, config."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from operators.validation import Reason, ValidationConfig
from operators.validation.dedupe import RecentIds
from operators.validation.outliers import PriceOutlierDetector, robust_z
from operators.validation.timeguard import NO_REFERENCE, EventTimeGuard
from operators.validation.verdicts import Verdicts

# ------------------------------------------------------------------------- time guard


def guard(jump: int = 10, resync_after: int = 1000, latest: int | None = None) -> EventTimeGuard:
    g = EventTimeGuard(min_ns=-(10**6), max_ns=10**6, max_jump_ns=jump, resync_after=resync_after)
    g.latest_ns = latest
    return g


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.integers(-15, 25), min_size=0, max_size=40),
    latest=st.one_of(st.none(), st.integers(-20, 20)),
)
def test_vectorized_jump_check_equals_the_row_by_row_definition(
    steps: list[int], latest: int | None
) -> None:
    ts = np.cumsum(np.array(steps, dtype=np.int64))
    g = guard(jump=10, latest=latest)
    fast = g._jumps(ts)
    slow = g._jumps_row_by_row(ts)
    assert fast[0].tolist() == slow[0].tolist()
    assert fast[1][~fast[0]].tolist() == slow[1][~slow[0]].tolist()


def test_a_staircase_needing_many_passes_falls_back_to_the_exact_loop() -> None:
    ts = np.arange(11, 60, dtype=np.int64)  # each row is within 10 of the previous one only
    check = guard(jump=10, latest=0).check(ts, np.ones(ts.size, dtype=bool))
    assert check.jumped.all()  # all are > 10 past the last *accepted* time, which stays 0
    assert set(check.reference_ns.tolist()) == {0}


def test_absolute_bounds_and_first_row_without_reference() -> None:
    g = EventTimeGuard(min_ns=100, max_ns=1000, max_jump_ns=10, resync_after=5)
    ts = np.array([50, 500, 2000, 505, 900])
    check = g.check(ts, np.array([True, True, True, True, False]))
    assert check.too_early.tolist() == [True, False, False, False, False]
    assert check.too_late.tolist() == [False, False, True, False, False]
    assert check.jumped.tolist() == [False, False, False, False, False]  # 900 not a candidate
    assert check.reference_ns.tolist()[1] == NO_REFERENCE and check.reference_ns[3] == 500


def test_a_consistent_run_of_jumps_resyncs_and_an_inconsistent_one_does_not() -> None:
    g = guard(jump=10, resync_after=3, latest=0)
    scattered = np.array([100, 300, 500, 700])  # jumps that disagree with each other
    assert g.check(scattered, np.ones(4, dtype=bool)).jumped.all()
    assert g.latest_ns == 0
    regime = np.array([1000, 1001, 1002, 1003, 1004])
    check = g.check(regime, np.ones(5, dtype=bool))
    assert check.jumped.tolist() == [True, True, True, False, False]
    assert g.latest_ns == 1002


def test_resync_counts_runs_across_batches() -> None:
    g = guard(jump=10, resync_after=4, latest=0)
    for start in (1000, 1002):
        assert g.check(np.array([start, start + 1]), np.ones(2, dtype=bool)).jumped.all()
    assert g.latest_ns == 1003


# ------------------------------------------------------------------------- recent ids


@settings(max_examples=200, deadline=None)
@given(
    batches=st.lists(st.lists(st.integers(-1, 30), max_size=15), max_size=8),
    capacity=st.integers(1, 12),
)
def test_recent_ids_match_a_naive_last_n_window(batches: list[list[int]], capacity: int) -> None:
    ids = RecentIds(capacity)
    remembered: deque[int] = deque(maxlen=capacity)
    for batch in batches:
        array = np.array(batch, dtype=np.int64)
        got = ids.duplicates(array, np.ones(array.size, dtype=bool)).tolist()
        in_batch: set[int] = set()
        expected = []
        for i in batch:
            expected.append(i >= 0 and (i in in_batch or i in remembered))
            if i >= 0:
                in_batch.add(i)
        assert got == expected
        accepted = [i for i, dup in zip(batch, expected, strict=True) if not dup]
        ids.remember(np.array(accepted, dtype=np.int64))
        remembered.extend(i for i in accepted if i >= 0)


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.integers(-3, 3), max_size=60), capacity=st.integers(1, 12))
def test_recent_ids_fed_a_live_feed_one_id_at_a_time_match_the_window(
    steps: list[int], capacity: int
) -> None:
    """Mostly the next id (the one-id fast path), with gaps, repeats and ids going back."""
    ids = RecentIds(capacity)
    remembered: deque[int] = deque(maxlen=capacity)
    current, highest = 0, -1
    for step in steps:
        current = max(-1, current + (1 if step in (0, 1) else step))
        one = np.array([current], dtype=np.int64)
        seen = current >= 0 and current in remembered
        assert ids.duplicates(one, np.ones(1, dtype=bool)).tolist() == [seen]
        if not seen:
            ids.remember(one)
            if current >= 0:
                remembered.append(current)
                highest = max(highest, current)
        assert (ids.count, ids.max_id) == (len(remembered), highest)


class _GeneralPathOnly(RecentIds):
    """Every batch of ids through the run splitting: what the live-feed shortcut (ids that
    only extend the newest run) must leave too."""

    def _continue_newest_run(self, ids: np.ndarray) -> bool:
        return False


@settings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(st.tuples(st.sampled_from([1, 1, 1, 2, 0, -4]), st.integers(0, 15))),
    capacity=st.integers(1, 12),
)
def test_recent_ids_fed_runs_of_next_ids_keep_the_general_paths_state(
    chunks: list[tuple[int, int]], capacity: int
) -> None:
    """A live feed's batches: mostly the next few ids, sometimes a gap, a step back or more
    ids than the window; the state is the general path's, run for run."""
    fast, general = RecentIds(capacity), _GeneralPathOnly(capacity)
    following = 0
    for gap, length in chunks:
        start = max(0, following - 1 + gap)
        batch = np.arange(start, start + length, dtype=np.int64)
        fast.remember(batch)
        general.remember(batch)
        following = max(following, start + length)
        assert fast.__getstate__().keys() == general.__getstate__().keys()
        assert (fast.runs.tolist(), fast.count, fast.max_id) == (
            general.runs.tolist(),
            general.count,
            general.max_id,
        )


def test_recent_ids_only_look_at_candidates() -> None:
    ids = RecentIds(10)
    ids.remember(np.array([1, 2]))
    dup = ids.duplicates(np.array([1, 3, 3]), np.array([False, True, False]))
    assert dup.tolist() == [False, False, False]
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        RecentIds(0)


# ------------------------------------------------------------------------- outliers


def test_robust_z_reference_values() -> None:
    window = np.array([1.0, 2.0, 3.0, 4.0, 100.0])  # median 3, MAD median(2,1,0,1,97) = 1
    z, median, scale = robust_z(np.array([3.0, 6.0, 0.0]), window, 0.0)
    assert median == 3.0 and scale == pytest.approx(1.4826)
    assert z.tolist() == pytest.approx([0.0, 3 / 1.4826, 3 / 1.4826])


def test_robust_z_with_zero_mad() -> None:
    flat = np.full(10, 2.0)
    z, _, scale = robust_z(np.array([2.0, 2.1]), flat, 0.0)
    assert scale == 0.0 and z.tolist() == [0.0, float("inf")]
    z, _, scale = robust_z(np.array([2.0, 2.1]), flat, 0.01)
    assert scale == pytest.approx(0.02) and z.tolist() == pytest.approx([0.0, 5.0])


def test_window_holds_only_the_last_accepted_prices() -> None:
    d = PriceOutlierDetector(
        window=10, min_history=5, threshold=5, min_relative_scale=1e-3, resync_after=50
    )
    prices = 100 + np.sin(np.arange(40)) * 0.05
    prices[30] = 500.0
    flags = d.check(prices, np.ones(40, dtype=bool)).flagged
    assert np.flatnonzero(flags).tolist() == [30]
    assert d.history.tolist() == prices[np.r_[29, 31:40]].tolist()


def test_non_candidates_are_neither_judged_nor_remembered() -> None:
    d = PriceOutlierDetector(
        window=10, min_history=3, threshold=5, min_relative_scale=1e-3, resync_after=50
    )
    prices = np.array([10.0, 10.0, 999.0, 10.0, 10.0])
    check = d.check(prices, np.array([True, True, False, True, True]))
    assert not check.flagged.any()
    assert d.history.tolist() == [10.0] * 4


def test_level_shift_in_the_middle_of_a_chunk_rejudges_the_rest() -> None:
    d = PriceOutlierDetector(
        window=100, min_history=10, threshold=10, min_relative_scale=1e-4, resync_after=5
    )
    before = np.full(20, 100.0)
    after = 50 + np.sin(np.arange(12)) * 0.001
    flags = d.check(np.r_[before, after], np.ones(32, dtype=bool)).flagged
    assert flags.tolist() == [False] * 20 + [True] * 5 + [False] * 7
    assert d.history.tolist() == after.tolist()


# ------------------------------------------------------------------------- config


def test_config_defaults_and_parsing() -> None:
    config = ValidationConfig.model_validate(
        {"max_time_jump": "PT2H", "min_timestamp": "2015-01-01T00:00:00Z", "resync_after": 7}
    )
    assert config.max_time_jump == timedelta(hours=2)
    assert config.min_timestamp.year == 2015 and config.resync_after == 7
    assert ValidationConfig().dedupe_window == 100_000


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"outlier_window": 5}, "outlier_window"),
        ({"outlier_threshold": -1}, "outlier_threshold"),
        ({"max_time_jump": 0}, "max_time_jump"),
        ({"resync_after": 0}, "resync_after"),
        ({"dedupe_window": 0}, "dedupe_window"),
        ({"max_price": 0}, "max_price"),
        ({"min_timestamp": datetime(2020, 1, 1)}, "min_timestamp"),  # naive
        ({"outlier_windw": 10}, "outlier_windw"),  # misspelt
        ({"outlier_window": 20, "outlier_min_history": 30}, "outlier_min_history"),
        ({"min_timestamp": "2150-01-01T00:00:00Z"}, "max_timestamp"),
    ],
)
def test_bad_config_fails_naming_the_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        ValidationConfig.model_validate(values)


# ------------------------------------------------------------------------- verdicts


def test_verdicts_count_a_reason_used_by_several_checks_once_per_row() -> None:
    verdicts = Verdicts(4)
    verdicts.reject(np.array([True, False, False, False]), Reason.TIMESTAMP_OUT_OF_RANGE, str)
    verdicts.reject(np.array([True, True, True, False]), Reason.TIMESTAMP_OUT_OF_RANGE, str)
    assert verdicts.counts() == {"timestamp_out_of_range": 3}
    assert verdicts.ok.tolist() == [False, False, False, True]
