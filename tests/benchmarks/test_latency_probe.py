"""How latency samples are attributed: the batch holding the causing trade, the arrival stamp."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.latency import (
    ArrivalProbe,
    EmissionLog,
    StampedReplay,
    percentiles,
    speed_for,
)
from benchmarks.workloads import derived_trades
from connectors.replay import ReplaySource
from schemas.batches import CandleBatch, FeatureBatch
from schemas.common import Timeframe

MINUTE = Timeframe.M1.ns


def test_the_cause_is_the_first_batch_reaching_the_close() -> None:
    log = EmissionLog()
    log.add(0, 50 * MINUTE + 7, 1_000)  # trades up to 50 min 7 ns
    log.add(60 * MINUTE + 3, 61 * MINUTE, 2_000)
    log.add(62 * MINUTE, 70 * MINUTE, 3_000)
    closes = np.array([10, 50, 51, 60, 61, 62, 70, 71]) * MINUTE
    assert log.emitted_at(closes).tolist() == [1_000, 1_000, 2_000, 2_000, 2_000, 3_000, 3_000, -1]


def minute_features(open_minutes: list[int]) -> FeatureBatch:
    ts = np.array(open_minutes, dtype=np.int64) * MINUTE
    ones = np.ones(len(ts))
    return FeatureBatch(CandleBatch.from_columns("X/Y", "1m", ts, ones, ones, ones, ones, ones), {})


def test_probe_measures_rows_from_their_causing_batch_and_drops_the_warm_up() -> None:
    log = EmissionLog()
    log.add(0, 5 * MINUTE, 1_000_000)
    log.add(5 * MINUTE + 1, 9 * MINUTE, 3_000_000)
    probe = ArrivalProbe()
    probe._add("features 1m", np.array([2, 4, 6, 8]) * MINUTE, 4_000_000)
    samples = probe.latencies_ms(log, after_ns=3 * MINUTE)["features 1m"]
    assert samples.tolist() == [3.0, 1.0, 1.0]  # close at 4 ← batch 1; 6 and 8 ← batch 2


def test_probe_reads_feature_batches_of_its_timeframe_only() -> None:
    probe = ArrivalProbe()
    probe([minute_features([0, 1, 2]), "not a record"])
    five = FeatureBatch(CandleBatch.from_columns("X/Y", "5m", [0], [1], [1], [1], [1], [1]), {})
    probe([five])
    (events,), _ = probe.arrivals["features 1m"]
    assert events.tolist() == [MINUTE, 2 * MINUTE, 3 * MINUTE]  # close times


def test_stamped_replay_logs_every_batch_it_hands_over() -> None:
    loaded = derived_trades(2, 4, 30).to_loaded()
    log = EmissionLog()
    source = StampedReplay(ReplaySource([loaded], batch_size=50), log)
    (part_name,) = source.list_parts()
    part = source.build_part("in", part_name, None)
    rows = 0
    while True:
        try:
            rows += sum(len(b) for b in part.next_batch())
        except StopIteration:
            break
    assert rows == 240 and len(log) == 5
    assert log.emitted_at(np.array([0])).tolist()[0] > 0


def test_percentiles_and_speed() -> None:
    assert all(math.isnan(v) for v in percentiles(np.array([])))
    p50, p99, p999 = percentiles(np.arange(1.0, 101.0))
    assert (p50, p99) == (pytest.approx(50.5), pytest.approx(99.01)) and p999 <= 100.0
    assert speed_for(1_000, 4) == 15_000.0
