"""The Quorum ↔ NautilusTrader agreement check: it finds differences, and none on real data."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import nautilus
from benchmarks.flow_runs import run_flow
from benchmarks.workloads import minute_bars
from schemas.batches import FeatureBatch
from schemas.common import Timeframe


def table(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ts = np.arange(rows, dtype=np.float64) * Timeframe.M1.ns
    close = 100 + rng.random(rows)
    values = rng.random((rows, 5)) + 1.0
    return np.column_stack([ts, close, close + 1, close - 1, close, rng.random(rows), values])


def test_identical_tables_agree() -> None:
    ours = {Timeframe.M1: table(500)}
    (result,) = nautilus.check_agreement(ours, {Timeframe.M1: ours[Timeframe.M1].copy()})
    assert result.candles_equal and result.indicators_equal
    assert result.common_candles == 500 and result.indicator_rows == 500 - nautilus.SEED_DECAYED


def test_a_different_candle_or_a_late_indicator_difference_is_caught() -> None:
    ours = table(500)
    theirs = ours.copy()
    theirs[10, 3] -= 0.5  # one low differs
    theirs[450, 6] *= 1 + 1e-6  # ema_12 differs after the seed decayed
    (result,) = nautilus.check_agreement({Timeframe.M1: ours}, {Timeframe.M1: theirs})
    assert not result.candles_equal and not result.indicators_equal
    assert result.max_deviation["ema_12"] == pytest.approx(1e-6, rel=1e-3)


def test_seed_rows_and_missing_candles_are_not_compared() -> None:
    ours = table(500)
    theirs = np.delete(ours.copy(), [3, 7], axis=0)  # Nautilus lacks two candles
    theirs[100, 7] += 1.0  # a seed-period difference
    (result,) = nautilus.check_agreement({Timeframe.M1: ours}, {Timeframe.M1: theirs})
    assert result.common_candles == 498 and result.candles_equal and result.indicators_equal


def test_nautilus_computes_what_quorum_computes_on_real_bars() -> None:
    reason = nautilus.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    bars = minute_bars(1_500)
    frame = bars.frame
    items: list = []
    run_flow([bars], stage="features", collect=items.extend)
    ours = nautilus.tables_from_features([i for i in items if isinstance(i, FeatureBatch)])
    ohlcv = {k: frame[k].to_numpy() for k in ("open", "high", "low", "close", "volume")}
    theirs = nautilus.run_minute_bars(frame["ts_ns"].to_numpy(), ohlcv).tables
    results = {r.timeframe: r for r in nautilus.check_agreement(ours, theirs)}
    assert all(r.candles_equal for r in results.values()), results
    minute = results["1m"]
    assert minute.indicator_rows == 1_500 - nautilus.SEED_DECAYED and minute.indicators_equal
