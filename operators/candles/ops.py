"""Bytewax 0.21 operators around the candle cores: thin routing, no candle logic.

* :func:`build_candles` — keyed trade batches → closed candles on 1m and every roll-up
  timeframe, plus a late-trade stream;
* :func:`roll_up` — keyed closed candles → closed candles of coarser timeframes.

Both run one core per key (symbol) inside ``bytewax.operators.stateful_batch``: the core is
created from the first batch of the key, its state *is* the snapshot (pickled by Bytewax for
recovery), and at end of input (``on_eof``) it is flushed so the last, partial minute and
buckets are emitted. Each appears in the dataflow as one composite step.

A batch the core refuses (``ValueError``: a bad price, a candle out of order …) does not crash
the flow and is not dropped: each of its rows goes to the ``dead`` stream as a
:class:`~schemas.records.DeadLetter` naming the problem, and the core's state is left as it was.
Upstream validation should make this stream empty.

Usage (``trades`` is a ``KeyedStream[TradeBatch]`` keyed by symbol)::

    from operators.candles.ops import build_candles, roll_up

    streams = build_candles("candles", trades, allowed_lateness_ns=2_000_000_000)
    op.output("candles_out", streams.candles, candle_sink)   # CandleBatch items, all timeframes
    op.output("late_out", streams.late, late_sink)           # LateTrades items
    op.output("dead_out", streams.dead, dead_letter_sink)    # DeadLetter items

    hourly = roll_up("hourly", five_minute_bars, [Timeframe.H1, Timeframe.H4])
    op.output("hourly_out", hourly.candles, candle_sink)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import operator
from bytewax.operators import KeyedStream, StatefulBatchLogic

from operators.candles.calendars import MarketCalendar
from operators.candles.instruments import InstrumentsConfig
from operators.candles.minute import LateTrades
from operators.candles.multi import MultiTimeframeCandles, MultiTimeframeUpdate
from operators.candles.rollup import CandleRollup
from operators.candles.timeframes import rollup_targets
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import Timeframe, ns_to_datetime
from schemas.records import DeadLetter

_CANDLES = "candles"
_LATE = "late"
_DEAD = "dead"

_Batch = TradeBatch | CandleBatch
_Core = MultiTimeframeCandles | CandleRollup
_Tagged = tuple[str, object]


@dataclass(frozen=True)
class CandleStreams:
    """Outputs of :func:`build_candles`, keyed by symbol."""

    candles: KeyedStream[CandleBatch]
    """Closed candles: one ``CandleBatch`` per timeframe and input batch, 1m first."""
    late: KeyedStream[LateTrades]
    """Trades that arrived after their minute closed, with the watermark at arrival."""
    dead: KeyedStream[DeadLetter]
    """Rows of batches the core refused, with the reason."""


@dataclass(frozen=True)
class RollupStreams:
    """Outputs of :func:`roll_up`, keyed by symbol."""

    candles: KeyedStream[CandleBatch]
    """Closed candles of the target timeframes (the input candles are not repeated)."""
    dead: KeyedStream[DeadLetter]
    """Rows of candle batches the core refused (out of order, duplicated …)."""


class _CoreLogic(StatefulBatchLogic[_Batch, _Tagged, _Core | None]):
    """One candle core per key; emits ``(tag, payload)`` pairs that the operator splits."""

    def __init__(
        self,
        resume_state: _Core | None,
        make_core: Callable[[_Batch], _Core],
        tag: Callable[[Any], list[_Tagged]],
        rejected_reason: str,
    ) -> None:
        self._core = resume_state
        self._make_core = make_core
        self._tag = tag
        self._rejected_reason = rejected_reason

    def on_batch(self, values: list[_Batch]) -> tuple[Iterable[_Tagged], bool]:
        out: list[_Tagged] = []
        for batch in values:
            if self._core is None:
                self._core = self._make_core(batch)
            try:
                result = self._core.update(batch)
            except ValueError as error:
                out.extend((_DEAD, letter) for letter in self._dead_letters(batch, error))
                continue
            out.extend(self._tag(result))
        return out, StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[_Tagged], bool]:
        if self._core is None:
            return [], StatefulBatchLogic.RETAIN
        return self._tag(self._core.flush()), StatefulBatchLogic.RETAIN

    def snapshot(self) -> _Core | None:
        return copy.deepcopy(self._core)

    def _dead_letters(self, batch: _Batch, error: ValueError) -> list[DeadLetter]:
        return [
            DeadLetter(
                source=batch.source,
                symbol=batch.symbol,
                reason=self._rejected_reason,
                detail=str(error),
                raw=json.dumps(batch.row(i)),
                ts=_event_time(int(batch.ts_ns[i])),
                # a refused batch is met once per its first row: rows count within it
                occurrence=f"batch at {int(batch.ts_ns[0])} row {i}",
            )
            for i in range(len(batch))
        ]


def _tag_update(update: MultiTimeframeUpdate) -> list[_Tagged]:
    out: list[_Tagged] = [(_CANDLES, batch) for batch in update.batches()]
    if update.late_count:
        out.append((_LATE, update.late))
    return out


def _tag_rollup(closed: dict[Timeframe, CandleBatch]) -> list[_Tagged]:
    return [(_CANDLES, batch) for batch in closed.values()]


def _coarser(
    targets: tuple[Timeframe, ...] | None, source: Timeframe
) -> tuple[Timeframe, ...] | None:
    """The targets a key of timeframe ``source`` can build; daily input always gets its weekly
    roll-up (a list configured for intraday data names nothing coarser than a day)."""
    if targets is None:
        return None
    coarser = {t for t in targets if t.seconds > source.seconds}
    if not source.intraday:
        coarser.update(rollup_targets(source))
    return tuple(sorted(coarser, key=lambda t: t.seconds))


def _calendar(instruments: InstrumentsConfig | None, symbol: str) -> MarketCalendar | None:
    return None if instruments is None else instruments.instrument_for(symbol).market_calendar


def _event_time(ts_ns: int) -> datetime | None:
    try:
        return ns_to_datetime(ts_ns)
    except (OverflowError, ValueError, OSError):
        return None


def _payloads(step_id: str, tagged: KeyedStream[_Tagged], tag: str) -> KeyedStream:
    return op.filter_map_value(step_id, tagged, lambda item: item[1] if item[0] == tag else None)


@operator
def build_candles(
    step_id: str,
    up: KeyedStream[TradeBatch],
    targets: Iterable[Timeframe] | None = None,
    allowed_lateness_ns: int = 0,
    fill_empty: bool = True,
    instruments: InstrumentsConfig | None = None,
) -> CandleStreams:
    """Trade batches keyed by symbol → closed 1m candles and their roll-ups, in event time.

    Each key gets a :class:`~operators.candles.multi.MultiTimeframeCandles` core (see
    :mod:`operators.candles.minute` for the watermark, late-trade and empty-minute rules and
    :mod:`operators.candles.rollup` for the roll-ups). At end of input the open minutes and
    partial buckets are flushed.

    :arg step_id: Unique ID.
    :arg up: ``TradeBatch`` items keyed by their symbol, in arrival order.
    :arg targets: Roll-up timeframes (default 5m, 15m, 1h, 4h).
    :arg allowed_lateness_ns: How long a minute stays open after the newest trade passed its
        end.
    :arg fill_empty: Emit zero-volume candles for untraded minutes between traded ones.
    :arg instruments: Each symbol's market calendar (closed minutes are never filled; days,
        weeks and session candles); default: every symbol 24/7.
    :returns: :class:`CandleStreams` with ``candles``, ``late`` and ``dead``.
    """
    chosen = rollup_targets(Timeframe.M1, targets)  # a bad target fails when the flow is built
    if allowed_lateness_ns < 0:
        raise ValueError(f"allowed_lateness_ns must be >= 0, got {allowed_lateness_ns}")

    def make_core(batch: _Batch) -> _Core:
        return MultiTimeframeCandles.from_trades(
            batch.symbol,
            chosen,
            allowed_lateness_ns=allowed_lateness_ns,
            fill_empty=fill_empty,
            calendar=_calendar(instruments, batch.symbol),
        )

    tagged = op.stateful_batch(
        "cores",
        up,
        lambda resume: _CoreLogic(resume, make_core, _tag_update, "rejected_by_candle_builder"),
    )
    return CandleStreams(
        candles=_payloads("candles", tagged, _CANDLES),
        late=_payloads("late", tagged, _LATE),
        dead=_payloads("dead", tagged, _DEAD),
    )


@operator
def roll_up(
    step_id: str,
    up: KeyedStream[CandleBatch],
    targets: Iterable[Timeframe] | None = None,
    source: Timeframe | None = None,
    instruments: InstrumentsConfig | None = None,
) -> RollupStreams:
    """Closed candle batches keyed by symbol → closed candles of coarser timeframes.

    Each key gets a :class:`~operators.candles.rollup.CandleRollup`; at end of input its
    partial buckets are flushed.

    :arg step_id: Unique ID.
    :arg up: ``CandleBatch`` items keyed by symbol, one source timeframe, in time order.
    :arg targets: Timeframes to build (default: every intraday timeframe coarser than the
        source; 1w for daily input). Without ``source``, those not coarser than a key's own
        timeframe are skipped (a configured list serves 1m and 5m inputs alike).
    :arg source: Timeframe of the input; by default the first batch's ``timeframe``.
    :arg instruments: Each symbol's market calendar (days, weeks, sessions); default 24/7.
    :returns: :class:`RollupStreams` with ``candles`` and ``dead``.
    """
    chosen = None if targets is None else tuple(Timeframe(t) for t in targets)
    if source is not None:
        rollup_targets(source, chosen)  # a bad target fails when the flow is built

    def make_core(batch: _Batch) -> _Core:
        if not isinstance(batch, CandleBatch):
            raise TypeError(f"roll_up takes CandleBatch items, got {type(batch).__name__}")
        wanted = chosen if source is not None else _coarser(chosen, batch.timeframe)
        calendar = _calendar(instruments, batch.symbol)
        return CandleRollup(batch.symbol, source or batch.timeframe, wanted, calendar=calendar)

    tagged = op.stateful_batch(
        "cores",
        up,
        lambda resume: _CoreLogic(resume, make_core, _tag_rollup, "rejected_by_candle_rollup"),
    )
    return RollupStreams(
        candles=_payloads("candles", tagged, _CANDLES),
        dead=_payloads("dead", tagged, _DEAD),
    )
