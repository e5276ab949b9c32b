"""Bytewax operators of the signal stage: thin wrappers routing batches to the engine core.

>>> from bytewax.dataflow import Dataflow
>>> import bytewax.operators as op
>>> from bytewax.testing import TestingSink, TestingSource, run_main
>>> from schemas.batches import CandleBatch
>>> from schemas.common import Timeframe
>>> from operators.signals.config import SignalsConfig
>>> hour = Timeframe.H1.ns
>>> closes = [10, 10.2, 9.9, 10.1, 12.0] * 6
>>> batch = FeatureBatch(CandleBatch.from_columns(
...     "X/Y", "1h", [i * hour for i in range(30)], closes, closes, closes, closes, [1] * 30), {})
>>> config = SignalsConfig(timeframes=["1h"], rules={"enabled": False},
...                        zscore={"window": 5, "entry": 1.5}, online={"enabled": False})
>>> flow = Dataflow("doc")
>>> features = op.key_on("key", op.input("in", flow, TestingSource([batch])), lambda b: b.symbol)
>>> batches = generate_signals("signals", features, config)
>>> out = []
>>> op.output("out", signals_of("flat", batches), TestingSink(out))
>>> run_main(flow)
>>> sorted({s.origin for s in out})
['stat:zscore_reversion']
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import KeyedStream, StatefulBatchLogic

from operators.control.state import ControlSettings
from operators.control.wrapper import controlled_batch
from operators.signals.config import SignalsConfig
from operators.signals.engine import SignalBatch, SignalEngine
from operators.snapshot_encoding import frozen, thawed
from schemas.batches import FeatureBatch
from schemas.common import NS_PER_MINUTE
from schemas.records import DeadLetter
from schemas.signals import Signal


def build_engine(config: SignalsConfig) -> SignalEngine:
    """A fresh engine with one set of generator cores (one engine per symbol)."""
    return SignalEngine(
        config.build_generators(),
        config.timeframes,
        max_wait_ns=config.max_wait_minutes * NS_PER_MINUTE,
    )


class _EngineLogic(StatefulBatchLogic[FeatureBatch, SignalBatch, SignalEngine]):
    def __init__(self, engine: SignalEngine) -> None:
        self.engine = engine
        self.symbol = ""

    def on_batch(self, values: list[FeatureBatch]) -> tuple[list[SignalBatch], bool]:
        out = []
        for batch in values:
            self.symbol = batch.symbol
            released = self.engine.push(batch)
            if not released.is_empty():
                out.append(released)
        return out, StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[list[SignalBatch], bool]:
        released = self.engine.flush(self.symbol)
        return ([released] if not released.is_empty() else []), StatefulBatchLogic.RETAIN

    def snapshot(self) -> bytes | None:
        return frozen(self.engine)


def _disable_origins(logic: _EngineLogic, settings: ControlSettings) -> None:
    logic.engine.disabled = settings.disabled


@operator
def generate_signals(
    step_id: str,
    up: KeyedStream[FeatureBatch],
    config: SignalsConfig,
    controls: KeyedStream[ControlSettings] | None = None,
) -> KeyedStream[SignalBatch]:
    """Feature batches keyed by symbol → :class:`SignalBatch` es in event-time order.

    One engine per symbol runs every configured generator (playbooks, statistics, online
    model); its state (buffers, windows, river models) is snapshotted for recovery.
    ``controls`` (the control room's settings per symbol, :mod:`operators.control`) switches
    origins off and on while the flow runs.
    """

    def build(resumed: bytes | SignalEngine | None) -> _EngineLogic:
        engine = thawed(resumed)
        return _EngineLogic(engine if engine is not None else build_engine(config))

    if controls is None:
        return op.stateful_batch("engine", up, build)
    return controlled_batch("engine", up, controls, build, _disable_origins)


@operator
def signals_of(step_id: str, up: KeyedStream[SignalBatch]) -> Stream[Signal]:
    """The individual signals of a signal-batch stream (for the store and output topics)."""
    return op.flat_map("flatten", up, lambda keyed: keyed[1].signals)


@operator
def dead_letters_of(step_id: str, up: KeyedStream[SignalBatch]) -> Stream[DeadLetter]:
    """Candles the engine rejected (out of order), for the dead-letter output."""
    return op.flat_map("flatten", up, lambda keyed: keyed[1].dead_letters)
