"""Bytewax snapshots a core by deep copy every epoch: the copy is independent and exact."""

from __future__ import annotations

import copy
import pickle

import numpy as np

from operators.candles.multi import MultiTimeframeCandles
from schemas.batches import TradeBatch
from schemas.common import Timeframe

MINUTE = Timeframe.M1.ns


def trades(start_minute: int, minutes: int) -> TradeBatch:
    ts = (np.arange(start_minute * 4, (start_minute + minutes) * 4) * MINUTE // 4 + 7).astype(
        np.int64
    )
    price = 100 + np.sin(ts / MINUTE)
    return TradeBatch.from_columns("X/Y", ts, price, np.ones(len(ts)), np.arange(len(ts)))


def closed(core: MultiTimeframeCandles, batch: TradeBatch) -> dict[str, list]:
    out = core.update(batch)
    return {
        tf.value: [b.ts_ns.tolist(), b.close.tolist(), b.volume.tolist()]
        for tf, b in out.candles.items()
    }


def test_a_deep_copy_continues_exactly_like_the_original() -> None:
    core = MultiTimeframeCandles.from_trades("X/Y")
    core.update(trades(0, 250))  # open minute, partial 5m … 4h buckets pending
    snapshot = copy.deepcopy(core)
    assert pickle.dumps(snapshot) == pickle.dumps(core)
    rest = trades(250, 300)
    assert closed(snapshot, rest) == closed(core, rest)
    assert pickle.dumps(snapshot) == pickle.dumps(core)


def test_the_original_moving_on_leaves_the_copy_as_it_was() -> None:
    core = MultiTimeframeCandles.from_trades("X/Y")
    core.update(trades(0, 130))
    snapshot = copy.deepcopy(core)
    frozen = pickle.dumps(snapshot)
    core.update(trades(130, 500))
    core.flush()
    assert pickle.dumps(snapshot) == frozen


def test_a_pickled_core_mid_candle_holds_its_pending_minutes_once_and_resumes_exactly() -> None:
    core = MultiTimeframeCandles.from_trades("X/Y")
    core.update(trades(0, 230))  # 229 closed minutes: 4, 4, 49 and 229 pending per target
    pending = {t: core.rollup._pending_rows(t) for t in core.rollup.targets}
    assert sorted(len(b) for b in pending.values()) == [4, 4, 49, 229]
    state = core.rollup.__getstate__()["_pending"]
    assert sorted(state[1].values()) == [4, 4, 49, 229]  # tails of the longest, by count
    assert len(pickle.dumps(core)) < len(pickle.dumps(dict(pending))) // 2
    resumed = pickle.loads(pickle.dumps(core))
    assert all(
        pickle.dumps(resumed.rollup._pending[t]) == pickle.dumps(b) for t, b in pending.items()
    )
    rest = trades(230, 300)
    assert closed(resumed, rest) == closed(core, rest)


def test_a_pending_batch_that_is_not_a_tail_is_kept_whole() -> None:
    from operators.candles.rollup import CandleRollup

    core = MultiTimeframeCandles.from_trades("X/Y")
    core.update(trades(0, 100))
    rollup = core.rollup
    longest = max(rollup._pending, key=lambda t: len(rollup._pending[t]))
    other = next(t for t in rollup._pending if t != longest)
    rollup._pending[other] = rollup._pending[longest].take(np.array([0]))  # a head, not a tail
    _, tails = rollup.__getstate__()["_pending"]
    assert not isinstance(tails[other], int)
    restored = pickle.loads(pickle.dumps(rollup))
    assert restored._pending[other].ts_ns.tolist() == rollup._pending[other].ts_ns.tolist()
    earlier = CandleRollup.__new__(CandleRollup)
    earlier.__setstate__(dict(rollup.__dict__))  # the earlier form: batches as they were
    assert earlier._pending[other] is rollup._pending[other]
