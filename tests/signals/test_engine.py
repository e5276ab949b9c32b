"""The signal engine orders candles like a live market whatever the batching upstream."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from operators.signals.config import SignalsConfig
from operators.signals.engine import SignalEngine
from operators.signals.market_view import CandleRow, MarketView
from operators.signals.operators import build_engine
from schemas.batches import CandleBatch, FeatureBatch
from schemas.common import Timeframe

H1, M15, H4 = Timeframe.H1, Timeframe.M15, Timeframe.H4


def single_rows(batches: list[FeatureBatch]) -> list[FeatureBatch]:
    """Every candle as its own batch, in close-time order: the order of a live feed."""
    singles = []
    for batch in batches:
        for i in range(len(batch)):
            index = np.array([i])
            singles.append(
                FeatureBatch(
                    batch.candles.take(index), {k: v[index] for k, v in batch.columns.items()}
                )
            )
    singles.sort(key=lambda b: (int(b.candles.ts_ns[0]) + b.timeframe.ns, -b.timeframe.seconds))
    return singles


def run(batches: list[FeatureBatch], config: SignalsConfig):
    engine = build_engine(config)
    signals, ticks = [], []
    for batch in batches:
        out = engine.push(batch)
        signals += out.signals
        ticks += out.closes
    out = engine.flush("BTC-PERP")
    return signals + out.signals, ticks + out.closes, engine


def test_replay_chunks_give_the_live_order_result(month_replay_batches):
    config = SignalsConfig(online={"warmup": 100})
    chunked, chunked_ticks, engine = run(month_replay_batches, config)
    live, live_ticks, _ = run(single_rows(month_replay_batches), config)
    assert chunked == live
    assert chunked_ticks == live_ticks
    times = [(t.close_ns, t.timeframe.seconds) for t in chunked_ticks]
    assert times == sorted(times)  # released in close-time order, shortest first at ties
    assert engine.counts["rows_late"] == 0 and engine.counts["rows_rejected"] == 0
    assert len({s.origin for s in chunked}) >= 10


def test_a_15m_rule_sees_the_1h_candle_closing_at_the_same_instant():
    class Probe:
        origin = "probe"

        def __init__(self):
            self.seen = []

        def required_features(self):
            return set()

        def on_candle(self, row: CandleRow, view: MarketView):
            latest = view.latest(H1)
            self.seen.append((row.timeframe, latest.close_ns if latest else None))
            return []

    probe = Probe()
    engine = SignalEngine([probe], [M15, H1])
    quarter = CandleBatch.from_columns("X", M15, [i * M15.ns for i in range(4)], *[[1.0] * 4] * 5)
    hour = CandleBatch.from_columns("X", H1, [0], [1.0], [1.0], [1.0], [1.0], [1.0])
    engine.push(FeatureBatch(quarter, {}))  # 1h not seen yet: the engine waits
    assert probe.seen == []
    engine.push(FeatureBatch(hour, {}))
    assert probe.seen == [
        (M15, None),
        (M15, None),
        (M15, None),
        (M15, H1.ns),  # 15m closing at 1:00 reads the 1h candle closing at 1:00
        (H1, H1.ns),
    ]


def test_out_of_order_candles_are_dead_lettered_not_processed():
    engine = SignalEngine([], [H1])
    batch = CandleBatch.from_columns("X", H1, [0, H1.ns], *[[1.0, 1.0]] * 5)
    engine.push(FeatureBatch(batch, {}))
    replayed = engine.push(FeatureBatch(batch.take(np.array([1])), {}))
    (letter,) = replayed.dead_letters
    assert letter.reason == "out_of_order_candle" and letter.symbol == "X"
    assert "1h candle closing 1970-01-01T02:00:00+00:00" in letter.detail
    assert engine.counts["rows_rejected"] == 1 and engine.counts["rows_processed"] == 2


def test_unwanted_timeframes_are_counted_and_a_missing_one_does_not_stall():
    engine = SignalEngine([], [M15, H4], max_wait_ns=2 * H1.ns, max_wait_pushes=2)
    minute = CandleBatch.from_columns("X", Timeframe.M1, [0], *[[1.0]] * 5)
    engine.push(FeatureBatch(minute, {}))
    assert engine.counts["batches_ignored"] == 1
    quarters = CandleBatch.from_columns("X", M15, [i * M15.ns for i in range(4)], *[[1.0] * 4] * 5)
    assert engine.push(FeatureBatch(quarters, {})).closes == []  # 45 min buffered: wait for 4h
    more = CandleBatch.from_columns("X", M15, [i * M15.ns for i in range(4, 12)], *[[1.0] * 8] * 5)
    released = engine.push(FeatureBatch(more, {}))  # span 2h ≥ max_wait: go on without 4h
    assert len(released.closes) == 12


def test_a_month_in_one_batch_per_timeframe_still_comes_out_in_order(month_features):
    config = SignalsConfig(online={"warmup": 100})
    whole = [month_features[tf] for tf in (M15, H1, H4)]  # each timeframe's month at once
    assert run(whole, config)[0] == run(single_rows(whole), config)[0]


def test_the_learner_runs_on_the_configured_signal_timeframes_only(month_replay_batches):
    def learner_run(config: SignalsConfig) -> tuple[set, dict, list]:
        signals, _, engine = run(month_replay_batches, config)
        (learner,) = [g for g in engine.generators if g.origin == "ml:online"]
        emitted_on = {s.timeframe for s in signals if s.origin == "ml:online"}
        learned = {tf: learner.learned(tf) for tf in (M15, H1, H4)}
        others = [s for s in signals if s.origin != "ml:online"]
        return emitted_on, learned, others

    everywhere = learner_run(SignalsConfig(online={"warmup": 100}))
    four_hours = learner_run(SignalsConfig(online={"warmup": 100, "timeframes": ["4h"]}))
    assert everywhere[0] == {M15, H1, H4} and four_hours[0] == {H4}
    assert four_hours[1] == {M15: 0, H1: 0, H4: everywhere[1][H4]} and everywhere[1][H4] > 0
    assert four_hours[2] == everywhere[2]  # every other generator exactly as before


def test_learner_timeframes_outside_the_signal_timeframes_stop_start_up():
    with pytest.raises(
        ValidationError, match=r"timeframes: 5m is not a signal timeframe \(15m, 1h, 4h\)"
    ):
        SignalsConfig(online={"timeframes": ["5m"]})
    with pytest.raises(ValidationError, match="give at least one of 15m, 1h, 4h"):
        SignalsConfig(online={"timeframes": []})
    assert SignalsConfig(online={"timeframes": ["1h", "4h"]}).online.timeframes == (H1, H4)
