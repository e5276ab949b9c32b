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
