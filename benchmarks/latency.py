"""Latency from a trade entering the flow to the feature row and the fused signal it causes.

What is measured, exactly:

* **emission** — a :class:`StampedReplay` wraps the paced :class:`~connectors.replay.ReplaySource`
  and stamps each batch with ``time.perf_counter_ns()`` the moment it hands the batch to
  Bytewax; the batch's first and last event times are logged with the stamp;
* **arrival** — the flow's in-process collector (the ``collect`` output of
  :func:`~flows.pipeline.build_flow`, after every other step) stamps each record when Bytewax
  writes it out;
* **cause** — a candle that *closes* at event time ``T`` (open time + timeframe) is emitted by
  the candle builder when the first trade at or after ``T`` arrives (the watermark passes
  ``T``; allowed lateness 0). That trade is the cause: the batch holding it is the first whose
  last event time is ``>= T``. A fused signal stamped ``T`` is the decision taken on the
  candles closing at ``T``, so it has the same cause; an order created at event time ``T``
  likewise (an order counts once, at its first record).

latency = arrival − emission of the causing batch. Samples whose event time falls in the first
``warmup_ns`` of the stream are left out: until every timeframe has closed once, the signal
engine holds rows back on purpose (see :mod:`operators.signals.engine`).

>>> log = EmissionLog()
>>> log.add(0, 99, 1_000)
>>> log.add(100, 199, 5_000)
>>> log.emitted_at(np.array([50, 100, 150])).tolist()
[1000, 5000, 5000]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from connectors.replay import ReplayItem, ReplayPosition, ReplaySource
from schemas.batches import FeatureBatch, TradeBatch
from schemas.common import Timeframe, datetime_to_ns

PERCENTILES = (50.0, 99.0, 99.9)


class EmissionLog:
    """Event-time span and wall-clock stamp of every batch a source emitted, in order."""

    def __init__(self) -> None:
        self._first: list[int] = []
        self._last: list[int] = []
        self._stamp: list[int] = []

    def __len__(self) -> int:
        return len(self._stamp)

    def add(self, first_event_ns: int, last_event_ns: int, stamp_ns: int) -> None:
        self._first.append(first_event_ns)
        self._last.append(last_event_ns)
        self._stamp.append(stamp_ns)

    def emitted_at(self, event_ns: np.ndarray) -> np.ndarray:
        """Stamp of the batch holding the first trade at or after each event time (-1: none)."""
        last = np.maximum.accumulate(np.asarray(self._last, dtype=np.int64))
        index = np.searchsorted(last, event_ns, side="left")
        stamps = np.append(np.asarray(self._stamp, dtype=np.int64), -1)
        return stamps[np.minimum(index, len(self._stamp))]


class _StampedPartition(StatefulSourcePartition[ReplayItem, ReplayPosition]):
    def __init__(self, inner: StatefulSourcePartition, log: EmissionLog) -> None:
        self._inner = inner
        self._log = log

    def next_batch(self) -> list[ReplayItem]:
        items = self._inner.next_batch()
        stamp = time.perf_counter_ns()
        spans = [
            (int(item.ts_ns.min()), int(item.ts_ns.max()))
            for item in items
            if isinstance(item, TradeBatch) and len(item)
        ]
        if spans:
            self._log.add(min(s[0] for s in spans), max(s[1] for s in spans), stamp)
        return items

    def next_awake(self) -> datetime | None:
        return self._inner.next_awake()

    def snapshot(self) -> ReplayPosition:
        return self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()


class StampedReplay(FixedPartitionedSource[ReplayItem, ReplayPosition]):
    """A replay source that logs when each batch left it (see the module docstring)."""

    def __init__(self, replay: ReplaySource, log: EmissionLog) -> None:
        self._replay = replay
        self.log = log

    def list_parts(self) -> list[str]:
        return self._replay.list_parts()

    def build_part(
        self, step_id: str, for_part: str, resume_state: ReplayPosition | None
    ) -> _StampedPartition:
        return _StampedPartition(self._replay.build_part(step_id, for_part, resume_state), self.log)


@dataclass
class ArrivalProbe:
    """Collects, per kind of record, the causing event time and the arrival stamp."""

    timeframe: Timeframe = Timeframe.M1
    arrivals: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = field(default_factory=dict)
    _orders: set[str] = field(default_factory=set)

    def __call__(self, items: list[Any]) -> None:
        stamp = time.perf_counter_ns()
        for item in items:
            if isinstance(item, FeatureBatch):
                if item.timeframe is self.timeframe and len(item):
                    closes = item.candles.ts_ns + self.timeframe.ns
                    self._add(f"features {self.timeframe.value}", closes, stamp)
            elif type(item).__name__ == "FusedSignal":
                self._add("fused signal", _event(item.timestamp), stamp)
            elif type(item).__name__ == "Order" and item.order_id not in self._orders:
                self._orders.add(item.order_id)
                self._add("order", _event(item.created_at), stamp)

    def _add(self, label: str, event_ns: np.ndarray, stamp: int) -> None:
        events, stamps = self.arrivals.setdefault(label, ([], []))
        events.append(event_ns)
        stamps.append(np.full(len(event_ns), stamp, dtype=np.int64))

    def latencies_ms(self, log: EmissionLog, after_ns: int) -> dict[str, np.ndarray]:
        """Latency samples in milliseconds per record kind (events before ``after_ns`` dropped)."""
        out: dict[str, np.ndarray] = {}
        for label, (events, stamps) in self.arrivals.items():
            event = np.concatenate(events)
            arrival = np.concatenate(stamps)
            emitted = log.emitted_at(event)
            keep = (event >= after_ns) & (emitted >= 0)
            out[label] = (arrival[keep] - emitted[keep]) / 1e6
        return out


def _event(moment: datetime) -> np.ndarray:
    return np.array([datetime_to_ns(moment)], dtype=np.int64)


@dataclass(frozen=True)
class LatencyFigure:
    """Percentiles of one kind of record at one offered load."""

    offered_trades_per_s: float
    achieved_trades_per_s: float
    record: str
    samples: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    trades_per_batch: float
    """Mean trades per batch the source emitted: what came due while the flow worked on the
    batch before (paced), so it grows with the offered rate and with each batch's cost."""


def median_figures(runs: Sequence[Sequence[LatencyFigure]]) -> list[LatencyFigure]:
    """Per record kind, the median over repeated runs of every percentile (and of the rates).

    >>> a = LatencyFigure(10.0, 9.0, "x", 5, 1.0, 2.0, 3.0, 4.0)
    >>> b = LatencyFigure(10.0, 11.0, "x", 7, 3.0, 4.0, 9.0, 6.0)
    >>> c = LatencyFigure(10.0, 10.0, "x", 6, 2.0, 8.0, 5.0, 5.5)
    >>> (m,) = median_figures([[a], [b], [c]])
    >>> m.achieved_trades_per_s, m.samples, m.p50_ms, m.p99_ms, m.p999_ms, m.trades_per_batch
    (10.0, 6, 2.0, 4.0, 5.0, 5.5)
    """
    by_record: dict[str, list[LatencyFigure]] = {}
    for figures in runs:
        for figure in figures:
            by_record.setdefault(figure.record, []).append(figure)
    out = []
    for record, figures in sorted(by_record.items()):

        def median(name: str, figures: list[LatencyFigure] = figures) -> float:
            return float(np.median([getattr(f, name) for f in figures]))

        out.append(
            LatencyFigure(
                figures[0].offered_trades_per_s,
                median("achieved_trades_per_s"),
                record,
                int(median("samples")),
                median("p50_ms"),
                median("p99_ms"),
                median("p999_ms"),
                median("trades_per_batch"),
            )
        )
    return out


def percentiles(samples: np.ndarray) -> tuple[float, float, float]:
    """p50, p99 and p99.9 (NaN for no samples).

    >>> [round(p, 3) for p in percentiles(np.arange(1, 1001, dtype=float))]
    [500.5, 990.01, 999.001]
    """
    if len(samples) == 0:
        return (float("nan"),) * 3  # type: ignore[return-value]
    p50, p99, p999 = np.percentile(samples, PERCENTILES)
    return float(p50), float(p99), float(p999)


def speed_for(rate: float, trades_per_event_minute: int) -> float:
    """Replay speed (event time / wall time) that offers ``rate`` trades per second.

    >>> speed_for(20_000, 4)  # 4 trades per event minute: 300,000 × real time
    300000.0
    """
    return rate * 60.0 / trades_per_event_minute


def measure_latency(
    inputs: Sequence[Any],
    *,
    rate: float,
    trades_per_event_minute: int,
    warmup_ns: int,
    stage: str = "full",
) -> list[LatencyFigure]:
    """Replay ``inputs`` paced at ``rate`` trades/s through the flow; one figure per record kind."""
    from benchmarks.flow_runs import run_flow

    log = EmissionLog()
    replay = ReplaySource(inputs, speed=speed_for(rate, trades_per_event_minute), batch_size=10**7)
    probe = ArrivalProbe()
    run = run_flow([], stage=stage, source=StampedReplay(replay, log), collect=probe)  # type: ignore[arg-type]
    trades = sum(len(f) for f in inputs)
    first_event = min(int(f.frame["ts_ns"].min()) for f in inputs)
    samples = probe.latencies_ms(log, first_event + warmup_ns)
    per_batch = trades / max(len(log), 1)
    return [
        LatencyFigure(
            rate, trades / run.seconds, label, len(values), *percentiles(values), per_batch
        )
        for label, values in sorted(samples.items())
    ]
