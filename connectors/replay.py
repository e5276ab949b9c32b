"""Replay recorded market data as a Bytewax partitioned source of per-symbol batches.

:class:`ReplaySource` takes loaded files (:mod:`connectors.files`: trades and/or candles, one or
many symbols each) and emits

* :class:`~schemas.batches.TradeBatch` / :class:`~schemas.batches.CandleBatch` items, **one
  symbol per batch** (and one timeframe per candle batch), rows in event-time order;
* the files' load-time :class:`~schemas.records.DeadLetter` records, once, at the start of the
  partition of their symbol.

Partitions: each symbol is assigned to one of ``partitions`` groups by the hash Bytewax routes
its keyed state by (:mod:`operators.placement`; stable across runs and machines), so that with
one partition per worker (or any multiple of the worker count) a symbol's rows are read on the
worker that keeps its state and no keyed step sends them to another worker. The default, 1, is
one globally event-time-ordered stream.
Within a partition, rows of every file and symbol are merged in event-time order (ties: trades
before candles, then file order); each ``next_batch`` takes up to ``batch_size`` rows of that
order and cuts them into one batch per symbol.

Resume: the snapshot is the row offset in the partition's merged order (plus whether the dead
letters were emitted), so a flow restarted from recovery continues exactly after the last rows
it emitted. ``partitions`` and the input files must stay the same across a resume: the
partition names carry the count and the snapshot carries the row total, which is checked.

Speed: as fast as possible (``speed=None``), or paced so that event time advances ``speed``
times as fast as wall time: ``next_awake`` tells Bytewax when the next row is due and a batch
never holds a row before its time (``next_batch`` never sleeps). The clock is injectable.

Progress: ``on_progress(rows_done, rows_total)`` is called after each batch with the data rows
emitted by this process (dead letters not counted), e.g. to drive a progress bar.

>>> from bytewax.testing import run_main, TestingSink
>>> from connectors.files import load_candles, shipped_path
>>> import bytewax.operators as op
>>> from bytewax.dataflow import Dataflow
>>> source = ReplaySource([load_candles(shipped_path("alts-btc_5m_2018-01"))], batch_size=1000)
>>> flow = Dataflow("replay_doc")
>>> out = []
>>> op.output("out", op.input("replay", flow, source), TestingSink(out))
>>> run_main(flow)
>>> sum(len(b) for b in out), len({b.symbol for b in out}), out[0].symbol, len(out[0])
(57546, 10, 'ADA/BTC', 100)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from pathlib import Path

import bytewax.operators as op
import numpy as np
import polars as pl
from bytewax.dataflow import Stream, operator
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.operators import KeyedStream

from connectors.files import LoadedCandles, LoadedFile, LoadedTrades, load_market_data
from connectors.files.quotes import LoadedQuotes
from operators.placement import partition_rank_of_key
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import Timeframe
from schemas.records import DeadLetter

ReplayItem = TradeBatch | CandleBatch | DeadLetter
Clock = Callable[[], datetime]
ProgressCallback = Callable[[int, int], None]

DEFAULT_BATCH_SIZE = 5_000
"""Rows per ``next_batch`` (before the cut into per-symbol batches)."""

_TRADES, _CANDLES = 0, 1


def utc_now() -> datetime:
    """The default clock: aware UTC wall time."""
    return datetime.now(UTC)


def partition_name(index: int, partitions: int) -> str:
    """The name of replay partition ``index`` of ``partitions`` (the recovery key)."""
    return f"replay-{index}-of-{partitions}"


def partition_index(symbol: str, partitions: int) -> int:
    """The partition of a symbol: the one Bytewax assigns (round-robin over sorted names) to
    the worker it keeps the symbol's state on, whenever the worker count divides
    ``partitions``.

    >>> partition_index("BTC/USDT", 1), partition_index("BTC/USDT", 12)
    (0, 11)
    >>> from operators.placement import worker_of_key, worker_of_partition
    >>> names = [partition_name(i, 12) for i in range(12)]
    >>> worker_of_partition(names[11], names, 4) == worker_of_key("BTC/USDT", 4)
    True
    """
    return _index_of_rank(partitions)[partition_rank_of_key(symbol, partitions)]


@cache
def _index_of_rank(partitions: int) -> tuple[int, ...]:
    """Partition indexes in the sorted order of their names ("replay-10-of-12" < "replay-2-…")."""
    return tuple(sorted(range(partitions), key=lambda i: partition_name(i, partitions)))


@dataclass(frozen=True, slots=True)
class ReplayPosition:
    """Resume state of one partition: rows emitted so far in its merged order."""

    offset: int
    dead_letters_emitted: bool
    rows_total: int


def _compact(indices: np.ndarray) -> np.ndarray:
    """Row or stream numbers as int32 when they fit (half the memory of a replay's index over
    millions of rows), int64 otherwise.

    >>> _compact(np.array([0, 5])).dtype, _compact(np.array([0, 2**31])).dtype
    (dtype('int32'), dtype('int64'))
    """
    fits = indices.size == 0 or (indices.min() >= 0 and indices.max() < 2**31)
    return indices.astype(np.int32 if fits else np.int64, copy=False)


@dataclass(frozen=True, slots=True)
class _Stream:
    """One (kind, symbol, timeframe) series: the unit a batch holds."""

    kind: int
    symbol: str
    timeframe: Timeframe | None


@dataclass(frozen=True, slots=True)
class _Table:
    """All rows of one kind, concatenated across files, as numpy columns."""

    ts_ns: np.ndarray
    stream: np.ndarray
    columns: dict[str, np.ndarray]

    @classmethod
    def build(cls, frames: Sequence[pl.DataFrame], names: Sequence[str]) -> _Table:
        if not frames:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty, {n: np.zeros(0) for n in names})
        frame = pl.concat(frames, how="vertical")
        return cls(
            frame["ts_ns"].to_numpy().astype(np.int64, copy=False),
            _compact(frame["stream"].to_numpy()),
            {n: frame[n].to_numpy() for n in names},
        )


_TRADE_COLUMNS = ("price", "amount", "trade_id", "side")
_CANDLE_COLUMNS = ("open", "high", "low", "close", "volume", "trades", "spread")


def _with_spread(loaded: LoadedFile) -> pl.DataFrame:
    """A candle file's frame with a ``spread`` column: each minute's mean spread for candles
    of quotes, NaN for others."""
    if not isinstance(loaded, LoadedQuotes) or loaded.spread.is_empty():
        return loaded.frame.with_columns(spread=pl.lit(float("nan"), dtype=pl.Float64))
    minutes = loaded.spread.filter(pl.col("timeframe") == Timeframe.M1.value)
    return loaded.frame.join(
        minutes.select("symbol", "ts_ns", "spread"),
        on=["symbol", "ts_ns"],
        how="left",
        maintain_order="left",
    ).with_columns(pl.col("spread").fill_null(float("nan")))


@dataclass(frozen=True, slots=True)
class _Catalogue:
    """Every (kind, symbol, timeframe) stream of the replayed files, and their rows."""

    streams: list[_Stream]
    tables: tuple[_Table, _Table]
    source: str
    quoted: frozenset[int] = frozenset()
    """Streams of candles built from quotes: their batches carry the mean spread."""

    @classmethod
    def index(cls, inputs: Sequence[LoadedFile], source: str) -> _Catalogue:
        """Number the streams and concatenate the rows of each kind across files."""
        streams: list[_Stream] = []
        ids: dict[_Stream, int] = {}
        frames: tuple[list[pl.DataFrame], list[pl.DataFrame]] = ([], [])
        quoted: set[int] = set()
        for loaded in inputs:
            kind = _TRADES if isinstance(loaded, LoadedTrades) else _CANDLES
            mapping: dict[str, int] = {}
            for symbol in loaded.symbols:
                tf = loaded.timeframes[symbol] if isinstance(loaded, LoadedCandles) else None
                key = _Stream(kind, symbol, tf)
                if key not in ids:
                    ids[key] = len(streams)
                    streams.append(key)
                mapping[symbol] = ids[key]
            frame = loaded.frame
            if kind == _CANDLES:
                frame = _with_spread(loaded)
                if isinstance(loaded, LoadedQuotes):
                    quoted.update(mapping.values())
            frame = frame.with_columns(
                pl.col("symbol").replace_strict(mapping, return_dtype=pl.Int64).alias("stream")
            )
            frames[kind].append(frame)
        tables = (
            _Table.build(frames[_TRADES], _TRADE_COLUMNS),
            _Table.build(frames[_CANDLES], _CANDLE_COLUMNS),
        )
        return cls(streams, tables, source, frozenset(quoted))

    def batch(self, stream_id: int, rows: np.ndarray) -> TradeBatch | CandleBatch:
        """The given rows (indices into the stream's kind table) as one batch."""
        stream = self.streams[stream_id]
        table = self.tables[stream.kind]
        c = {name: values[rows] for name, values in table.columns.items()}
        ts = table.ts_ns[rows]
        if stream.kind == _TRADES:
            return TradeBatch(
                stream.symbol, ts, c["price"], c["amount"], c["trade_id"], c["side"], self.source
            )
        assert stream.timeframe is not None
        return CandleBatch(
            stream.symbol,
            stream.timeframe,
            ts,
            c["open"],
            c["high"],
            c["low"],
            c["close"],
            c["volume"],
            c["trades"],
            self.source,
            c["spread"] if stream_id in self.quoted else None,
        )


@dataclass(frozen=True, slots=True)
class _MergedOrder:
    """A partition's rows in event-time order: row in its kind's table, stream, time."""

    row: np.ndarray
    stream: np.ndarray
    ts_ns: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_ns)


class _Progress:
    """Rows emitted per partition of this process, reported as one total."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self._callback = callback
        self._total = total
        self._done: dict[str, int] = {}
        self._lock = threading.Lock()

    def report(self, part: str, done: int) -> None:
        if self._callback is None:
            return
        with self._lock:
            self._done[part] = done
            done_all = sum(self._done.values())
        self._callback(done_all, self._total)


class _Pacer:
    """Wall time at which each event time is due: event time runs ``speed`` × wall time.

    Anchored when the partition is built: the first remaining row is due at once.
    """

    def __init__(self, speed: float, clock: Clock, first_event_ns: int) -> None:
        self._speed = speed
        self._clock = clock
        self._wall0 = clock()
        self._event0 = first_event_ns

    def event_limit(self) -> int:
        """Latest event time due now."""
        elapsed = self._clock() - self._wall0
        elapsed_ns = elapsed // timedelta(microseconds=1) * 1000
        return self._event0 + int(elapsed_ns * self._speed)

    def due_at(self, event_ns: int) -> datetime:
        return self._wall0 + timedelta(microseconds=(event_ns - self._event0) / self._speed / 1e3)


class ReplayPartition(StatefulSourcePartition[ReplayItem, ReplayPosition]):
    """One partition of a :class:`ReplaySource` (built by Bytewax via ``build_part``)."""

    def __init__(
        self,
        name: str,
        catalogue: _Catalogue,
        order: _MergedOrder,
        dead_letters: list[DeadLetter],
        position: ReplayPosition,
        batch_size: int,
        pacer: Callable[[int], _Pacer] | None,
        progress: _Progress,
    ) -> None:
        self._name = name
        self._catalogue = catalogue
        self._order = order
        self._dead_letters = dead_letters
        self._offset = position.offset
        self._letters_done = position.dead_letters_emitted
        self._batch_size = batch_size
        self._progress = progress
        first = int(order.ts_ns[self._offset]) if self._offset < len(order) else 0
        self._pacer = pacer(first) if pacer is not None else None
        progress.report(name, self._offset)

    def next_batch(self) -> list[ReplayItem]:
        items: list[ReplayItem] = []
        if not self._letters_done:
            items.extend(self._dead_letters)
            self._letters_done = True
        start, total = self._offset, len(self._order)
        if start >= total:
            if items:
                return items
            raise StopIteration
        end = min(start + self._batch_size, total)
        if self._pacer is not None:
            due = np.searchsorted(self._order.ts_ns[start:end], self._pacer.event_limit(), "right")
            end = start + int(due)
        if end > start:
            items.extend(self._cut(start, end))
            self._offset = end
            self._progress.report(self._name, end)
        return items

    def next_awake(self) -> datetime | None:
        if self._pacer is None or self._offset >= len(self._order) or not self._letters_done:
            return None
        return self._pacer.due_at(int(self._order.ts_ns[self._offset]))

    def snapshot(self) -> ReplayPosition:
        return ReplayPosition(self._offset, self._letters_done, len(self._order))

    def _cut(self, start: int, end: int) -> list[TradeBatch | CandleBatch]:
        """Rows [start, end) of the merged order as one batch per stream, by first row."""
        streams = self._order.stream[start:end]
        rows = self._order.row[start:end]
        first = int(streams[0])
        if streams[-1] == first and (streams == first).all():  # one stream (one symbol)
            return [self._catalogue.batch(first, rows)]
        by_stream = np.argsort(streams, kind="stable")
        bounds = np.flatnonzero(np.diff(streams[by_stream])) + 1
        groups = sorted(np.split(by_stream, bounds), key=lambda g: int(g[0]))
        return [self._catalogue.batch(int(streams[g[0]]), rows[g]) for g in groups]


class ReplaySource(FixedPartitionedSource[ReplayItem, ReplayPosition]):
    """Replay loaded trade and candle files as per-symbol batches (see the module docstring).

    >>> from connectors.files import load_trades, shipped_path
    >>> source = ReplaySource([load_trades(shipped_path("xrp-eth_trades_2019-10"))],
    ...                       batch_size=5000)
    >>> part = source.build_part("replay", source.list_parts()[0], None)
    >>> [len(b) for b in part.next_batch()], part.snapshot()
    ([5000], ReplayPosition(offset=5000, dead_letters_emitted=True, rows_total=12477))
    """

    def __init__(
        self,
        inputs: Iterable[LoadedFile],
        *,
        partitions: int = 1,
        batch_size: int = DEFAULT_BATCH_SIZE,
        speed: float | None = None,
        clock: Clock = utc_now,
        on_progress: ProgressCallback | None = None,
        source: str = "replay",
    ) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be at least 1, got {partitions}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a positive number (or None = unpaced), got {speed}")
        self.inputs: tuple[LoadedFile, ...] = tuple(inputs)
        self.partitions = partitions
        self.batch_size = batch_size
        self.speed = speed
        self._clock = clock
        self._catalogue = _Catalogue.index(self.inputs, source)
        self.rows_total = sum(len(f) for f in self.inputs)
        self._progress = _Progress(on_progress, self.rows_total)

    @classmethod
    def from_files(
        cls,
        paths: Iterable[str | Path],
        *,
        symbol: str | None = None,
        timeframe: Timeframe | str | None = None,
        **options: object,
    ) -> ReplaySource:
        """Load each file (trades or candles, as its columns say) and replay them together."""
        loaded = [load_market_data(p, symbol, timeframe) for p in paths]
        return cls(loaded, **options)  # type: ignore[arg-type]

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted({s.symbol for s in self._catalogue.streams}))

    def partition_of(self, symbol: str) -> str:
        """Name of the partition that replays ``symbol``."""
        return self._part_name(partition_index(symbol, self.partitions))

    def _part_name(self, index: int) -> str:
        return partition_name(index, self.partitions)

    def list_parts(self) -> list[str]:
        return [self._part_name(i) for i in range(self.partitions)]

    def build_part(
        self, step_id: str, for_part: str, resume_state: ReplayPosition | None
    ) -> ReplayPartition:
        parts = self.list_parts()
        if for_part not in parts:
            raise ValueError(f"unknown replay partition {for_part!r}; expected one of {parts}")
        index = parts.index(for_part)
        order = self._merged_order(index)
        position = resume_state or ReplayPosition(0, False, len(order))
        if position.rows_total != len(order) or not 0 <= position.offset <= len(order):
            raise ValueError(
                f"{step_id}: resume state {position} does not fit partition {for_part} of "
                f"{len(order)} rows: the replayed files or partition count changed since the "
                "snapshot; start from a fresh recovery directory"
            )
        letters = [
            d
            for f in self.inputs
            for d in f.dead_letters
            if partition_index(d.symbol or "", self.partitions) == index
        ]
        pacer = None if self.speed is None else partial(_Pacer, self.speed, self._clock)
        return ReplayPartition(
            for_part,
            self._catalogue,
            order,
            letters,
            position,
            self.batch_size,
            pacer,
            self._progress,
        )

    def _merged_order(self, index: int) -> _MergedOrder:
        in_part = np.array(
            [partition_index(s.symbol, self.partitions) == index for s in self._catalogue.streams],
            dtype=bool,
        )
        kinds, rows, stream_ids, times = [], [], [], []
        for kind, table in enumerate(self._catalogue.tables):
            mine = np.flatnonzero(in_part[table.stream]) if len(in_part) else np.zeros(0, np.int64)
            kinds.append(np.full(mine.size, kind, dtype=np.int8))
            rows.append(mine)
            stream_ids.append(table.stream[mine])
            times.append(table.ts_ns[mine])
        kind, row = np.concatenate(kinds), np.concatenate(rows)
        stream, ts = np.concatenate(stream_ids), np.concatenate(times)
        if len(rows[_TRADES]) == 0 or len(rows[_CANDLES]) == 0:
            # One kind, rows already in table order: a stable sort by time is the same order.
            order = np.argsort(ts, kind="stable")
        else:
            order = np.lexsort((row, kind, ts))
        return _MergedOrder(_compact(row[order]), _compact(stream[order]), ts[order])


@dataclass(frozen=True)
class MarketData:
    """Streams out of :func:`split_market_data`."""

    trades: KeyedStream[TradeBatch]
    candles: KeyedStream[CandleBatch]
    dead: Stream[DeadLetter]


def _is_dead_letter(item: ReplayItem) -> bool:
    return isinstance(item, DeadLetter)


def _is_trades(item: ReplayItem) -> bool:
    return isinstance(item, TradeBatch)


def _symbol(batch: TradeBatch | CandleBatch) -> str:
    return batch.symbol


@operator
def split_market_data(step_id: str, up: Stream[ReplayItem]) -> MarketData:
    """Route a replay stream: trade batches and candle batches keyed by symbol, dead letters.

    >>> from bytewax.dataflow import Dataflow
    >>> from bytewax.testing import TestingSource
    >>> flow = Dataflow("split_doc")
    >>> items = [TradeBatch.from_columns("X/Y", [1], [1.0], [1.0])]
    >>> streams = split_market_data("split", op.input("in", flow, TestingSource(items)))
    >>> sorted(vars(streams))
    ['candles', 'dead', 'trades']
    """
    dead = op.branch("dead_letters", up, _is_dead_letter)
    kinds = op.branch("kinds", dead.falses, _is_trades)
    return MarketData(
        trades=op.key_on("key_trades", kinds.trues, _symbol),
        candles=op.key_on("key_candles", kinds.falses, _symbol),
        dead=dead.trues,
    )
