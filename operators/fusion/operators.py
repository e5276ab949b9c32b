"""Bytewax operator of the fusion stage: a thin wrapper routing signal batches to the core.

>>> from bytewax.dataflow import Dataflow
>>> import bytewax.operators as op
>>> from bytewax.testing import TestingSink, TestingSource, run_main
>>> from operators.signals.base import build_signal
>>> from operators.signals.engine import CloseTick, SignalBatch
>>> from operators.signals.market_view import CandleRow
>>> from schemas.common import Direction, Timeframe
>>> row = CandleRow("A/B", Timeframe.H1, 0, 1, 1, 1, 100.0, 1)
>>> batch = SignalBatch("A/B", row.close_ns, [CloseTick(Timeframe.H1, row.close_ns, 100.0)],
...                     [build_signal("stat:x", row, Direction.SHORT, 0.6, 3)])
>>> flow = Dataflow("doc")
>>> keyed = op.key_on("key", op.input("in", flow, TestingSource([batch])), lambda b: b.symbol)
>>> streams = fuse("fusion", keyed, FusionConfig())
>>> fused, reliability = [], []
>>> op.output("fused", streams.fused, TestingSink(fused))
>>> op.output("rel", streams.reliability, TestingSink(reliability))
>>> run_main(flow)
>>> [(f.score, f.decision.value) for f in fused]
[(-0.6, 'review')]
"""

from __future__ import annotations

from dataclasses import dataclass

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import KeyedStream, StatefulBatchLogic

from operators.control.state import ControlSettings
from operators.control.wrapper import controlled_batch
from operators.fusion.config import FusionConfig
from operators.fusion.core import FusionCore
from operators.fusion.reliability import SourceReliability
from operators.signals.engine import SignalBatch
from operators.snapshot_encoding import frozen, thawed
from schemas.common import ns_to_datetime
from schemas.signals import FusedSignal, FusionProgress

FusionItem = FusedSignal | SourceReliability | FusionProgress
_MARKER_STEP_NS = 1_000


@dataclass(frozen=True)
class FusionStreams:
    """The fusion stage's outputs: decisions, and the sources' reliability snapshots."""

    fused: Stream[FusedSignal]
    reliability: Stream[SourceReliability]
    timeline: Stream[FusedSignal | FusionProgress]
    """Fused signals interleaved, in order, with a :class:`FusionProgress` watermark after
    each batch: what the trading core consumes."""


class _FusionLogic(StatefulBatchLogic[SignalBatch, FusionItem, FusionCore | None]):
    def __init__(self, config: FusionConfig, core: FusionCore | None) -> None:
        self.config = config
        self.core = core
        self.disabled: frozenset[str] = frozenset()

    def on_batch(self, values: list[SignalBatch]) -> tuple[list[FusionItem], bool]:
        out: list[FusionItem] = []
        released = -1
        for batch in values:
            if self.core is None:
                self.core = FusionCore(batch.symbol, self.config, disabled=self.disabled)
            out.extend(self.core.process(batch))
            released = max(released, batch.watermark_ns)
        if self.core is not None:
            # Every candle closing at or before ``released`` has been fused: nothing fusion
            # emits later is stamped before the next close. The marker sits just after it
            # (1 µs, the resolution of a UTC datetime) so the trading core may process it.
            done = max(self.core.clock_ns, released)
            if done >= 0:
                ts = ns_to_datetime(done + _MARKER_STEP_NS)
                out.append(FusionProgress(asset=self.core.asset, ts=ts))
        return out, StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[list[FusionItem], bool]:
        return (self.core.flush() if self.core is not None else []), StatefulBatchLogic.RETAIN

    def snapshot(self) -> bytes | None:
        return frozen(self.core)


def _reconfigure(logic: _FusionLogic, settings: ControlSettings) -> None:
    logic.config, logic.disabled = settings.fusion, settings.disabled
    if logic.core is not None:
        logic.core.reconfigure(settings.fusion, settings.disabled)


@operator
def fuse(
    step_id: str,
    up: KeyedStream[SignalBatch],
    config: FusionConfig,
    controls: KeyedStream[ControlSettings] | None = None,
) -> FusionStreams:
    """Signal batches keyed by asset → fused decisions and reliability snapshots.

    The batches carry the candle closes the signals were computed on, so outcomes are resolved
    on the same event-time clock, with no race between a price stream and a signal stream.
    ``controls`` (the control room's settings per asset, :mod:`operators.control`) changes
    weights, bands and switched-off origins while the flow runs.
    """

    def build(resumed: bytes | FusionCore | None) -> _FusionLogic:
        return _FusionLogic(config, thawed(resumed))

    if controls is None:
        items = op.stateful_batch("core", up, build)
    else:
        items = controlled_batch("core", up, controls, build, _reconfigure)
    values = op.map("unkey", items, lambda keyed: keyed[1])
    return FusionStreams(
        fused=op.filter("fused", values, lambda item: isinstance(item, FusedSignal)),
        reliability=op.filter(
            "reliability", values, lambda item: isinstance(item, SourceReliability)
        ),
        timeline=op.filter(
            "timeline", values, lambda item: isinstance(item, FusedSignal | FusionProgress)
        ),
    )
