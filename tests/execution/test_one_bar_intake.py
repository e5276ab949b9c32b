"""A live feed's one-bar batches enter the trading core as the column path takes them: the same
outputs and state, unusable bars (their dead letters) included."""

from __future__ import annotations

import pickle
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from operators.execution.engine import TradingEngine
from schemas.batches import CandleBatch
from tests.execution.test_quiet_bars import ASSETS, _config, _market, _state


class ColumnsOnly(TradingEngine):
    """The reference: every candle batch through the column path."""

    def _pushed_one_bar(self, batch: CandleBatch) -> bool:
        return False


def _one_bar_batches(items: list[Any], seed: int) -> list[Any]:
    """Each candle batch cut into one-bar batches; every 17th bar's close and every 23rd
    bar's low made unusable."""
    rng = random.Random(seed)
    out: list[Any] = []
    bars = 0
    for item in items:
        if not isinstance(item, CandleBatch):
            out.append(item)
            continue
        for i in range(len(item)):
            bar, bars = item.take(slice(i, i + 1)), bars + 1
            if bars % 17 == 5:
                bar.close[0] = rng.choice([float("nan"), float("inf"), 0.0, -1.0])
            elif bars % 23 == 11:
                bar.low[0] = rng.choice([float("nan"), 0.0])
            out.append(bar)
    return out


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), minutes=st.integers(30, 150), split=st.integers(0, 200))
def test_one_bar_batches_leave_what_the_column_path_leaves(
    seed: int, minutes: int, split: int
) -> None:
    items = _one_bar_batches(_market(seed, minutes), seed)
    runs = []
    for kind in (TradingEngine, ColumnsOnly):
        engine = kind(_config(), atr=dict.fromkeys(ASSETS, 0.5))
        out = engine.process(items[:split])
        engine = pickle.loads(pickle.dumps(engine))
        out += engine.process(items[split:]) + engine.flush()
        runs.append((out, _state(engine)))
    assert runs[0] == runs[1]
    assert any(type(e).__name__ == "DeadLetter" for e in runs[0][0])
