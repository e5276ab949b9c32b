"""Closed candles of one timeframe → closed candles of coarser, UTC-aligned timeframes.

:class:`CandleRollup` is the pure core behind the ``roll_up`` operator: one per symbol, fed
closed :class:`~schemas.batches.CandleBatch` es of its source timeframe (1m, or e.g. 5m) in
time order, returning closed candles for each target (5m, 15m, 1h, 4h: coarser than the source
and a whole multiple of it; 1d, 1w). Intraday buckets are aligned to the Unix epoch in UTC;
days and weeks follow the market calendar (:class:`~operators.candles.timeframes.Buckets`),
and on a session market a candle of closed hours belongs to no bucket.

* A bucket closes when its last sub-candle arrives (it ends at the bucket's end) or when a
  candle of a later bucket arrives (the bucket's last sub-candles were missing).
* Buckets with no sub-candles produce no candle; a bucket whose first sub-candles are missing,
  as at the start of the data, is emitted as it is.
* ``skip_untraded=True`` (candles built from trades): sub-candles with ``trades == 0`` are the
  1-minute builder's fill of untraded minutes at the previous close. They still tell the roll-up
  that time has passed (a bucket closes on them), but they never enter a bucket's OHLCV: a
  bucket's open is its first trade, its high and low span its trades only, and a bucket of
  untraded minutes only produces no candle. The roll-ups then equal the direct aggregation of
  the trades (an exchange's klines, polars ``group_by_dynamic`` on the trades).
* :meth:`CandleRollup.flush` (end of stream) emits the open, partial buckets, as polars'
  ``group_by_dynamic`` does for the last window.
* OHLCV: first open, highest high, lowest low, last close, summed volume and trade counts,
  vectorized per batch. A bucket's volume is summed once, over all its sub-candles, when it
  closes (see :mod:`operators.candles.aggregate`), so it equals pandas'
  ``resample(...).sum()`` bit for bit whatever the batch boundaries.
* Input out of order, duplicated, misaligned, or of another symbol or timeframe raises a
  ``ValueError`` naming the candle, before the state changes: the flow validates first, and
  the core never silently corrupts a candle.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from operators.candles.aggregate import (
    aggregate_sorted,
    concat_candles,
    copy_candles,
    mean_spread,
)
from operators.candles.calendars import NO_BUCKET, MarketCalendar
from operators.candles.timeframes import (
    Buckets,
    format_ns,
    is_aligned,
    is_aligned_ns,
    rollup_targets,
)
from operators.snapshot_encoding import packed, unpacked
from schemas.batches import CandleBatch
from schemas.common import Timeframe

_COLUMNS = ("ts_ns", "open", "high", "low", "close", "volume", "trades")

MAX_JOINED_BATCHES = 32
"""Batches joined to a target's pending rows before they are concatenated: a live feed's
one-minute batches cost a list append each, and a pending bucket is never more than this many
small batches (memory at many symbols)."""


def _is_tail(part: CandleBatch, whole: CandleBatch) -> bool:
    """Whether ``part`` holds exactly (bit for bit) the last ``len(part)`` rows of ``whole``."""
    start = len(whole) - len(part)
    if start < 0 or (part.spread is None) != (whole.spread is None) or part.source != whole.source:
        return False
    columns = _COLUMNS if part.spread is None else (*_COLUMNS, "spread")
    return all(getattr(part, c).tobytes() == getattr(whole, c)[start:].tobytes() for c in columns)


def _pending_state(
    pending: dict[Timeframe, CandleBatch],
) -> tuple[bytes, dict[Timeframe, int | CandleBatch]]:
    """The longest pending batch (packed) and, per target, the length of its tail or the batch."""
    longest = max(pending.values(), key=len, default=None)
    if longest is None:  # a roll-up with no targets
        return packed(None), {}
    tails = {t: len(b) if _is_tail(b, longest) else b for t, b in pending.items()}
    return packed(longest), tails


def _pending_of(
    state: tuple[bytes, dict[Timeframe, int | CandleBatch]],
) -> dict[Timeframe, CandleBatch]:
    block, tails = state
    longest: CandleBatch | None = unpacked(block)
    if longest is None:  # a roll-up with no targets
        return {}
    end = len(longest)
    return {
        t: copy_candles(longest.take(slice(end - tail, end))) if isinstance(tail, int) else tail
        for t, tail in tails.items()
    }


class CandleRollup:
    """Rolls closed candles of one symbol up into coarser timeframes.

    >>> m = 60_000_000_000
    >>> rollup = CandleRollup("X/Y", Timeframe.M1, [Timeframe.M5])
    >>> ones = CandleBatch.from_columns(
    ...     "X/Y", Timeframe.M1, [3 * m, 4 * m, 5 * m], [1.0, 2.0, 3.0], [2.0, 5.0, 3.0],
    ...     [1.0, 2.0, 3.0], [2.0, 3.0, 3.0], [1.0, 1.0, 1.0], [1, 2, 1])
    >>> [(c.ts.minute, c.open, c.high, c.close, c.volume, c.trades)
    ...  for c in rollup.update(ones)[Timeframe.M5].to_candles()]
    [(0, 1.0, 5.0, 3.0, 2.0, 3)]
    >>> [(c.ts.minute, c.open, c.close) for c in rollup.flush()[Timeframe.M5].to_candles()]
    [(5, 3.0, 3.0)]
    """

    def __init__(
        self,
        symbol: str,
        source: Timeframe,
        targets: Iterable[Timeframe] | None = None,
        *,
        skip_untraded: bool = False,
        calendar: MarketCalendar | None = None,
    ) -> None:
        self.symbol = symbol
        self.source = Timeframe(source)
        self.skip_untraded = skip_untraded
        self.targets = rollup_targets(self.source, targets)
        self.calendar = calendar
        intraday = self.source.intraday
        self._buckets = {t: Buckets(t, calendar, intraday_rows=intraday) for t in self.targets}
        self._source_name = "replay"
        self._last_ts: int | None = None
        self._pending = {t: CandleBatch.empty(symbol, self.source) for t in self.targets}
        self._init_joins()

    def _init_joins(self) -> None:
        """Derived state, never persisted: batches joined to each target's pending rows since
        they were last concatenated (the pending rows are ``_pending[t]`` followed by them),
        and the bounds of the bucket holding a target's pending rows, when computed."""
        self._joined: dict[Timeframe, list[CandleBatch]] = {t: [] for t in self.targets}
        self._open: dict[Timeframe, tuple[int, int]] = {}

    def __deepcopy__(self, memo: dict[int, object]) -> CandleRollup:
        """Bytewax snapshots state by deep copy every epoch: copy the pending candles only."""
        clone = CandleRollup.__new__(CandleRollup)
        clone.__dict__.update(self.__dict__)  # not copy.copy: that would pickle-encode
        clone._pending = {t: copy_candles(self._pending_rows(t)) for t in self.targets}
        clone._init_joins()
        return clone

    def __getstate__(self) -> dict[str, object]:
        """The pending source candles once: every target's pending rows are those since its
        last boundary, the tail of the longest target's on an aligned calendar, so a snapshot
        holds the longest (compressed) and how many of its last rows each target has pending;
        a target whose rows are not such a tail is kept whole."""
        state = dict(self.__dict__)
        state["_pending"] = _pending_state({t: self._pending_rows(t) for t in self.targets})
        del state["_joined"], state["_open"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        saved = state["_pending"]
        if isinstance(saved, tuple):  # the snapshot form; a dict of batches is the earlier one
            state = {**state, "_pending": _pending_of(saved)}
        self.__dict__.update(state)
        self._init_joins()

    def update(self, candles: CandleBatch) -> dict[Timeframe, CandleBatch]:
        """Take closed source candles; return the non-empty closed candles per target."""
        self._check(candles)
        if len(candles) == 0:
            return {}
        self._source_name = candles.source
        self._last_ts = int(candles.ts_ns[-1])
        ends = self._last_ts + self.source.ns
        closed: dict[Timeframe, CandleBatch] = {}
        joining: list[CandleBatch] = []  # ``candles`` copied once, for every target joining it
        for target in self.targets:
            if self._joins_open_bucket(target, candles, ends):
                self._join(target, candles, joining)
                continue
            self._open.pop(target, None)
            buckets = self._buckets[target]
            rows = concat_candles(
                self.symbol,
                self.source,
                [self._pending[target], *self._joined[target], candles],
                self._source_name,
            )
            self._joined[target].clear()
            bucket = buckets.start(rows.ts_ns)
            outside = bucket == NO_BUCKET
            if outside.any():  # closed hours: in no candle of this timeframe
                rows, bucket = rows.take(~outside), bucket[~outside]
                if len(rows) == 0:
                    self._pending[target] = rows
                    continue
            last_bucket = int(bucket[-1])
            ends = int(rows.ts_ns[-1]) + self.source.ns
            complete = ends >= int(buckets.end(np.array([last_bucket]))[0])
            n_closed = len(rows) if complete else int(np.searchsorted(bucket, last_bucket))
            self._pending[target] = copy_candles(rows.take(slice(n_closed, len(rows))))
            if n_closed:
                done = slice(0, n_closed)
                built = self._aggregate(rows.take(done), bucket[done], target)
                if len(built):
                    closed[target] = built
        return closed

    def _joins_open_bucket(self, target: Timeframe, candles: CandleBatch, ends: int) -> bool:
        """The common case of a live feed: ``candles`` all fall in the bucket ``target``'s
        pending rows are in (or, with none pending, in one bucket) and end before it does, so
        they only join the pending rows — what the general path of :meth:`update` makes of
        them too. Decided without re-reading the pending rows: the bucket's bounds are kept
        while they stay pending."""
        buckets, ts = self._buckets[target], candles.ts_ns
        bounds = self._open.get(target)
        if bounds is None:
            pending = self._pending[target]
            parts = self._joined[target]
            head = pending if len(pending) else parts[0] if parts else candles
            start = int(buckets.start(head.ts_ns[:1])[0])
            if start == NO_BUCKET:
                return False
            bounds = self._open[target] = (start, int(buckets.end(np.array([start]))[0]))
        start, end = bounds
        if ends >= end:  # the batch completes the bucket or goes past it
            return False
        # ``candles`` come after the pending rows (or start the bucket): on a 24/7 calendar a
        # bucket is every instant from its start to its end; elsewhere hours may close inside
        return buckets.calendar.always_open or bool((buckets.start(ts) == start).all())

    def _join(self, target: Timeframe, candles: CandleBatch, joining: list[CandleBatch]) -> None:
        """Join ``candles`` to ``target``'s pending rows (``joining``: their copy, once made);
        the joined batches are concatenated every :data:`MAX_JOINED_BATCHES`."""
        if not joining:
            joining.append(copy_candles(candles))
        parts = self._joined[target]
        parts.append(joining[0])
        if len(parts) >= MAX_JOINED_BATCHES:
            self._pending_rows(target)

    def _pending_rows(self, target: Timeframe) -> CandleBatch:
        """``target``'s pending rows as one batch (its joined batches concatenated)."""
        parts = self._joined[target]
        if parts:
            self._pending[target] = concat_candles(
                self.symbol, self.source, [self._pending[target], *parts], self._source_name
            )
            parts.clear()
        return self._pending[target]

    def flush(self) -> dict[Timeframe, CandleBatch]:
        """End of stream: emit every open (partial) bucket."""
        closed: dict[Timeframe, CandleBatch] = {}
        for target in self.targets:
            rows = self._pending_rows(target)
            self._open.pop(target, None)
            if len(rows):
                built = self._aggregate(rows, self._buckets[target].start(rows.ts_ns), target)
                if len(built):
                    closed[target] = built
                self._pending[target] = CandleBatch.empty(self.symbol, self.source)
        return closed

    def _aggregate(self, rows: CandleBatch, bucket: np.ndarray, target: Timeframe) -> CandleBatch:
        if self.skip_untraded:
            traded = rows.trades > 0
            if not traded.all():
                rows, bucket = rows.take(traded), bucket[traded]
        columns = aggregate_sorted(
            bucket, rows.open, rows.high, rows.low, rows.close, rows.volume, rows.trades
        )
        spread = None
        if rows.spread is not None and len(rows):
            spread = mean_spread(bucket, rows.spread, rows.trades)  # trades = quote updates
        return columns.to_batch(self.symbol, target, self._source_name, spread)

    def _fits(self, ts_ns: int) -> bool:
        """Whether one candle's open time passes :meth:`_check` (a live feed's one minute)."""
        after = self._last_ts is None or ts_ns > self._last_ts
        return after and is_aligned_ns(ts_ns, self.source)

    def _check(self, candles: CandleBatch) -> None:
        if candles.symbol != self.symbol:
            raise ValueError(
                f"candle batch for symbol {candles.symbol!r} sent to the {self.symbol!r} roll-up"
            )
        if candles.timeframe != self.source:
            raise ValueError(
                f"{candles.timeframe.value} candles sent to a roll-up of "
                f"{self.source.value} candles"
            )
        ts = candles.ts_ns
        if len(ts) == 0 or (len(ts) == 1 and self._fits(int(ts[0]))):
            return
        misaligned = ~is_aligned(ts, self.source)
        if misaligned.any():
            raise ValueError(
                f"candle at {format_ns(ts[np.argmax(misaligned)])} is not aligned to "
                f"{self.source.value} epoch boundaries"
            )
        previous = np.empty_like(ts)
        previous[1:] = ts[:-1]
        previous[0] = ts[0] - 1 if self._last_ts is None else self._last_ts
        backwards = ts <= previous
        if backwards.any():
            i = int(np.argmax(backwards))
            raise ValueError(
                f"candle at {format_ns(ts[i])} is out of order or duplicated: it comes after "
                f"the candle at {format_ns(previous[i])}; roll-ups need strictly increasing "
                "open times"
            )
