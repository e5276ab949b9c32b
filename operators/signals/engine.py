"""The signal engine of one symbol: feature batches in, time-ordered signal batches out.

Feature batches of a symbol's timeframes arrive interleaved, each timeframe in time order, but a
batch may cover hours (a replay emits the 15m candles of a whole input chunk, then its 1h
candles). Generators must see candles the way a live market shows them — every timeframe's
candle at its close, in close-time order — or a 15m rule would read a stale 1h value. So the
engine keeps a small reorder buffer and releases rows up to a watermark:

    watermark = min over timeframes tf of (last close seen on tf + tf)

No candle closing before the watermark can still arrive (the next candle of each timeframe closes
at the earliest one period after its last), so releasing rows that close strictly before it
gives the live order exactly, whatever the batching. Candles closing at the same instant are all
placed in the view first (a 15m rule at 2:00 reads the 1h candle that closed at 2:00), then
handed to the generators shortest timeframe first. Until every configured timeframe has been
seen once the engine waits: a timeframe the data never produces must not stall the flow, so it
stops waiting once the buffer spans ``max_wait`` of event time *and* ``max_wait_pushes`` batches
arrived meanwhile (a replay may deliver a whole month of 15m candles in one batch, with the 1h
and 4h batches right behind it). At end of input everything left is released.

Each release becomes one :class:`SignalBatch`: the signals and the closes processed (which the
fusion orchestrator uses as its clock and to resolve signal outcomes), in event-time order —
downstream needs no further reordering.
"""

from __future__ import annotations

import heapq
import json
import math
from dataclasses import dataclass, field
from typing import Any

from operators.signals.base import SignalGenerator
from operators.signals.market_view import CandleRow, MarketView, rows_of
from operators.signals.release import Release
from schemas.batches import FeatureBatch
from schemas.common import NS_PER_MINUTE, Timeframe, ns_to_datetime
from schemas.records import DeadLetter
from schemas.signals import Signal

BATCH_MIN_ROWS = 32
"""Releases of fewer rows (live: one candle at a time; a catch-up of a few hours) go row by
row, which costs less than setting up the columns for every generator; both give the same
signals (tests/signals/test_generator_checks.py). Measured on the BTC month in replay batches
of 400 to 6,400 trades: row by row is ahead up to about 50 rows, the columns from about 100."""


@dataclass(frozen=True, slots=True)
class CloseTick:
    """A candle close the engine processed: the fusion's clock and price reference."""

    timeframe: Timeframe
    close_ns: int
    close: float


@dataclass(slots=True)
class SignalBatch:
    """What the engine released for one symbol: closes and signals, in event-time order.

    >>> SignalBatch("X/Y", 0).is_empty()
    True
    """

    symbol: str
    watermark_ns: int
    closes: list[CloseTick] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.closes or self.signals or self.dead_letters)


class SignalEngine:
    """Runs a set of generator cores over one symbol's candles in close-time order.

    ``disabled`` names origins switched off by the control room: their generators keep
    learning from every candle (so switching one on again resumes at once) but their signals
    are dropped (counted as ``signals_disabled``).

    >>> import numpy as np
    >>> from schemas.batches import CandleBatch
    >>> from operators.signals.statistical import ZScoreReversion
    >>> gen = ZScoreReversion(5, 1.5, 2.0, 0.6, 3, [Timeframe.H1])
    >>> engine = SignalEngine([gen], [Timeframe.H1])
    >>> hour = Timeframe.H1.ns
    >>> closes = [10, 10.2, 9.9, 10.1, 12.0]
    >>> batch = FeatureBatch(CandleBatch.from_columns("X/Y", "1h", [i * hour for i in range(5)],
    ...                      closes, closes, closes, closes, [1] * 5), {})
    >>> out = engine.push(batch)          # last 1h close 5h: rows closing before 6h are final
    >>> [s.origin for s in out.signals], len(out.closes)
    (['stat:zscore_reversion'], 5)
    """

    disabled: frozenset[str] = frozenset()

    def __init__(
        self,
        generators: list[SignalGenerator],
        timeframes: tuple[Timeframe, ...] | list[Timeframe],
        *,
        max_wait_ns: int = 1440 * NS_PER_MINUTE,
        max_wait_pushes: int | None = None,
        view_depth: int = 3,
    ) -> None:
        self.generators = generators
        self.timeframes = frozenset(timeframes)
        self.max_wait_ns = max_wait_ns
        self.max_wait_pushes = (
            max_wait_pushes if max_wait_pushes is not None else 2 * len(self.timeframes)
        )
        self._waiting_pushes = 0
        history = max(
            (g.history_depth() for g in generators if hasattr(g, "history_depth")), default=1
        )
        self.view = MarketView(view_depth, history)
        self._buffer: list[tuple[int, int, int, CandleRow]] = []
        self._sequence = 0
        self._last_close: dict[Timeframe, int] = {}
        self._released_until = -1
        self.counts: dict[str, int] = {
            "rows_in": 0,
            "rows_processed": 0,
            "rows_late": 0,
            "rows_rejected": 0,
            "batches_ignored": 0,
            "signals": 0,
        }

    # --- input ---------------------------------------------------------------------------

    def push(self, batch: FeatureBatch) -> SignalBatch:
        """Buffer a feature batch and release whatever is now final."""
        dead: list[DeadLetter] = []
        if batch.timeframe not in self.timeframes:
            self.counts["batches_ignored"] += 1
            return self._release(batch.symbol, final=False, dead=dead)
        last = self._last_close.get(batch.timeframe)
        period_ns, seconds = batch.timeframe.ns, batch.timeframe.seconds
        for row in rows_of(batch):
            self.counts["rows_in"] += 1
            close_ns = row.open_ns + period_ns
            if last is not None and close_ns <= last:
                self.counts["rows_rejected"] += 1
                dead.append(_out_of_order(row, last, f"feature row #{self.counts['rows_in']}"))
                continue
            last = close_ns
            if close_ns < self._released_until:
                self.counts["rows_late"] += 1
            heapq.heappush(self._buffer, (close_ns, seconds, self._sequence, row))
            self._sequence += 1
        if last is not None:
            self._last_close[batch.timeframe] = last
        waiting = bool(self.timeframes - self._last_close.keys())
        self._waiting_pushes = self._waiting_pushes + 1 if waiting else 0
        return self._release(batch.symbol, final=False, dead=dead)

    def flush(self, symbol: str) -> SignalBatch:
        """End of input: release every buffered row."""
        return self._release(symbol, final=True, dead=[])

    # --- ordering ------------------------------------------------------------------------

    def watermark_ns(self) -> float:
        """Rows closing strictly before this instant can be released."""
        if not self._buffer:
            return -math.inf
        unseen = self.timeframes - self._last_close.keys()
        if unseen:
            span = max(item[0] for item in self._buffer) - self._buffer[0][0]
            if span < self.max_wait_ns or self._waiting_pushes < self.max_wait_pushes:
                return -math.inf
        if not self._last_close:
            return -math.inf
        return min(close + tf.ns for tf, close in self._last_close.items())

    def _release(self, symbol: str, *, final: bool, dead: list[DeadLetter]) -> SignalBatch:
        limit = math.inf if final else self.watermark_ns()
        out = SignalBatch(symbol, 0, dead_letters=dead)
        rows: list[CandleRow] = []  # processing order: close time, then shortest timeframe
        while self._buffer and self._buffer[0][0] < limit:
            rows.append(heapq.heappop(self._buffer)[3])
        if rows:
            self._released_until = max(self._released_until, rows[-1].close_ns)
            out.closes = [CloseTick(row.timeframe, row.close_ns, row.close) for row in rows]
            out.signals = self._run_generators(rows)
            self.counts["rows_processed"] += len(rows)
        self.counts["signals"] += len(out.signals)
        out.watermark_ns = self._released_until
        return out

    def _run_generators(self, rows: list[CandleRow]) -> list[Signal]:
        """Every generator's signals for the released rows, in the order a row-by-row run gives:
        by row, then by generator. Batch generators (``on_rows``) read the rows at once against
        the view as it was before them; the others are fed row by row, each instant's rows
        pushed into the view first."""
        tagged: list[tuple[int, int, Signal]] = []
        if len(rows) < BATCH_MIN_ROWS:
            per_row = list(enumerate(self.generators))
        else:
            per_row = []
            release = Release(rows, self.view)
            for index, generator in enumerate(self.generators):
                on_rows = getattr(generator, "on_rows", None)
                if on_rows is None:
                    per_row.append((index, generator))
                    continue
                tagged.extend((position, index, s) for position, s in on_rows(release))
        start = 0
        while start < len(rows):  # instant by instant, as the rows were released
            end = start + 1
            while end < len(rows) and rows[end].close_ns == rows[start].close_ns:
                end += 1
            for row in rows[start:end]:
                self.view.push(row)
            for position in range(start, end):
                row = rows[position]
                for index, generator in per_row:
                    signals = generator.on_candle(row, self.view)
                    if signals:  # mostly none
                        tagged.extend((position, index, s) for s in signals)
            start = end
        tagged.sort(key=lambda item: (item[0], item[1]))
        kept: list[Signal] = []
        for _, index, signal in tagged:  # switched-off origins keep learning, emit nothing
            if self.generators[index].origin in self.disabled:
                self.counts["signals_disabled"] = self.counts.get("signals_disabled", 0) + 1
                continue
            kept.append(signal)
        return kept

    def stats(self) -> dict[str, Any]:
        """Counters for the run summary, and each online model's progressive accuracy."""
        report: dict[str, Any] = dict(self.counts)
        for generator in self.generators:
            accuracy = getattr(generator, "accuracy", None)
            if accuracy is None:
                continue
            for tf in sorted(self.timeframes, key=lambda t: t.seconds):
                report[f"{generator.origin}@{tf.value}.pv_accuracy"] = accuracy(tf)
                report[f"{generator.origin}@{tf.value}.learned"] = generator.learned(tf)  # type: ignore[attr-defined]
        return report


def _out_of_order(row: CandleRow, last_close_ns: int, occurrence: str) -> DeadLetter:
    return DeadLetter(
        source="signals",
        symbol=row.symbol,
        reason="out_of_order_candle",
        detail=(
            f"{row.timeframe.value} candle closing {ns_to_datetime(row.close_ns).isoformat()} "
            f"is not after the last one ({ns_to_datetime(last_close_ns).isoformat()})"
        ),
        raw=json.dumps(
            {"timeframe": row.timeframe.value, "open_ns": row.open_ns, "close": row.close}
        ),
        ts=ns_to_datetime(row.close_ns),
        occurrence=occurrence,
    )
