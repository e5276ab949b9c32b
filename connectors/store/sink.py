"""Bytewax sink writing the flow's records to the store, one transaction per batch.

Items are dispatched by type to write functions kept in a registry. This module registers the
market-data types (:class:`~schemas.batches.CandleBatch`, :class:`~schemas.batches.FeatureBatch`,
:class:`~schemas.records.DeadLetter`, :class:`~schemas.records.LateTrade`); other domains add
theirs with :func:`register_writer` in their own table module (``connectors.store.<domain>``),
which :func:`~connectors.store.engine.open_store` imports in every worker, so the sink knows
them wherever it runs.

Every registered writer must be idempotent: Bytewax recovery is at-least-once at the outputs,
so after a resume the sink sees some items again.

>>> import tempfile
>>> from pathlib import Path
>>> from bytewax.dataflow import Dataflow
>>> import bytewax.operators as op
>>> from bytewax.testing import TestingSource, run_main
>>> from connectors.store.engine import open_store
>>> from connectors.store.market import read_candles
>>> from schemas.batches import CandleBatch
>>> workdir = tempfile.TemporaryDirectory()
>>> url = str(Path(workdir.name) / "store.sqlite")  # or a PostgreSQL URL
>>> candles = CandleBatch.from_columns("A/B", "1m", [0], [1.0], [2.0], [0.5], [1.5], [9.0])
>>> flow = Dataflow("doc")
>>> op.output("store", op.input("in", flow, TestingSource([candles, candles])),
...           StoreSink(url, StoreWriter(run_id="doc-run")))
>>> run_main(flow)
>>> engine = open_store(url)
>>> read_candles(engine)["close"].to_list()
[1.5]
>>> engine.dispose(); workdir.cleanup()
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from sqlalchemy.engine import Connection, Engine

from connectors.store.engine import open_store
from connectors.store.feed_health import write_feed_health
from connectors.store.market import (
    write_candles,
    write_dead_letters,
    write_features,
    write_late,
    write_quality_flags,
)
from schemas.batches import CandleBatch, FeatureBatch
from schemas.market import FeedHealth
from schemas.records import DeadLetter, LateTrade, QualityFlag

logger = logging.getLogger(__name__)

WriteFn = Callable[[Connection, list[Any], str], int]
"""``write(conn, items, run_id) -> rows written``: stores a list of items of one type."""

_WRITERS: dict[type, WriteFn] = {}


def register_writer(item_type: type, write: WriteFn, *, replace: bool = False) -> None:
    """Teach the store sink to write items of ``item_type`` (and its subclasses).

    Registering a second, different function for a type is an error unless ``replace=True``;
    registering the same function again (a module imported twice) is harmless.

    >>> class Note:
    ...     pass
    >>> register_writer(Note, lambda conn, items, run_id: len(items))
    >>> writer_for(Note)(None, [Note()], "r")
    1
    >>> register_writer(Note, lambda conn, items, run_id: 0)
    Traceback (most recent call last):
    ...
    ValueError: a store writer for Note is already registered (...); pass replace=True ...
    """
    existing = _WRITERS.get(item_type)
    if existing is not None and existing is not write and not replace:
        raise ValueError(
            f"a store writer for {item_type.__name__} is already registered "
            f"({existing.__module__}.{existing.__qualname__}); pass replace=True to override it"
        )
    _WRITERS[item_type] = write


def writer_for(item_type: type, overrides: Mapping[type, WriteFn] | None = None) -> WriteFn:
    """The write function for ``item_type``: the nearest registered class in its MRO.

    >>> writer_for(CandleBatch).__name__
    '_write_candle_batches'
    >>> writer_for(int)
    Traceback (most recent call last):
    ...
    TypeError: no store writer for int; register one with connectors.store.sink.register_writer
    """
    for cls in item_type.__mro__:
        if overrides and cls in overrides:
            return overrides[cls]
        if cls in _WRITERS:
            return _WRITERS[cls]
    raise TypeError(
        f"no store writer for {item_type.__name__}; "
        "register one with connectors.store.sink.register_writer"
    )


def _unkeyed(item: Any) -> Any:
    """``(key, value)`` pairs from keyed streams are written as their value."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return item[1]
    return item


class StoreWriter:
    """Writes a mixed batch of items: grouped by type, all groups in one transaction.

    ``run_id`` labels dead letters and late trades; keep it stable across a resume so their
    dedupe keys match. ``writers`` overrides the registry for this writer only.

    >>> from connectors.store.engine import open_store
    >>> from schemas.records import DeadLetter
    >>> engine = open_store("sqlite://")
    >>> letter = DeadLetter(source="feed", reason="bad_json", detail="not JSON", raw="{")
    >>> StoreWriter("r1").write(engine, [letter, ("BTC/USDT", letter)])
    {'DeadLetter': 2}
    """

    def __init__(self, run_id: str, writers: Mapping[type, WriteFn] | None = None) -> None:
        self.run_id = run_id
        self._overrides = dict(writers or {})

    def write(self, conn_or_engine: Connection | Engine, items: Iterable[Any]) -> dict[str, int]:
        """Write ``items``; returns rows sent per type name. Unknown types fail before writing."""
        groups: dict[type, list[Any]] = {}
        for item in items:
            value = _unkeyed(item)
            groups.setdefault(type(value), []).append(value)
        plan = [(t, writer_for(t, self._overrides), group) for t, group in groups.items()]
        if isinstance(conn_or_engine, Engine):
            with conn_or_engine.begin() as conn:
                return self._run(conn, plan)
        return self._run(conn_or_engine, plan)

    def _run(self, conn: Connection, plan: list[tuple[type, WriteFn, list[Any]]]) -> dict[str, int]:
        return {t.__name__: write(conn, group, self.run_id) for t, write, group in plan}


class _StorePartition(StatelessSinkPartition[Any]):
    def __init__(self, url: str, writer: StoreWriter) -> None:
        self._engine = open_store(url)
        self._writer = writer

    def write_batch(self, items: list[Any]) -> None:
        counts = self._writer.write(self._engine, items)
        logger.debug("stored %s", counts)

    def close(self) -> None:
        self._engine.dispose()


class StoreSink(DynamicSink[Any]):
    """Bytewax sink: each worker opens the store at ``url`` and writes its batches with ``writer``.

    Accepts any registered item type, bare or as a ``(key, value)`` pair. See the module
    docstring for a runnable flow.
    """

    def __init__(self, url: str, writer: StoreWriter) -> None:
        self.url = url
        self.writer = writer

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _StorePartition:
        return _StorePartition(self.url, self.writer)


def _write_candle_batches(conn: Connection, items: list[CandleBatch], run_id: str) -> int:
    return write_candles(conn, items)


def _write_feature_batches(conn: Connection, items: list[FeatureBatch], run_id: str) -> int:
    return write_features(conn, items)


def _write_dead_letters(conn: Connection, items: list[DeadLetter], run_id: str) -> int:
    return write_dead_letters(conn, run_id, items)


def _write_feed_health(conn: Connection, items: list[FeedHealth], run_id: str) -> int:
    return write_feed_health(conn, run_id, items)


def _write_quality_flags(conn: Connection, items: list[QualityFlag], run_id: str) -> int:
    return write_quality_flags(conn, run_id, items)


def _write_late_trades(conn: Connection, items: list[LateTrade], run_id: str) -> int:
    return write_late(conn, run_id, items)


register_writer(CandleBatch, _write_candle_batches)
register_writer(FeatureBatch, _write_feature_batches)
register_writer(DeadLetter, _write_dead_letters)
register_writer(LateTrade, _write_late_trades)
register_writer(FeedHealth, _write_feed_health)
register_writer(QualityFlag, _write_quality_flags)
