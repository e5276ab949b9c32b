"""operators.placement against the running engine: Bytewax 0.21's routing of keyed state and
its assignment of source and sink partitions, observed on worker threads of one process (the
worker index is global, so a cluster of processes routes the same way), and the replay source's
partitions read where their symbols' state lives."""

from __future__ import annotations

from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import (
    DynamicSink,
    FixedPartitionedSink,
    StatefulSinkPartition,
    StatelessSinkPartition,
)
from bytewax.testing import TestingSource, cluster_main
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.files import load_candles, shipped_path
from connectors.kafka.sink import KafkaSink
from connectors.replay import ReplaySource, partition_index, partition_name
from operators.placement import (
    key_hash,
    keys_per_worker,
    partition_rank_of_key,
    portfolio_ids_per_worker,
    worker_of_key,
    worker_of_partition,
)

KEYS = [f"S{i:04d}/USD" for i in range(60)] + ["BTC/USDT", "ETH/USDT", "half-1", "é/€", ""]


class _WhereWritten(DynamicSink[Any]):
    """Records, per key of a ``(key, value)`` item, the worker that wrote it."""

    def __init__(self, into: dict[str, int]) -> None:
        self.into = into

    def build(self, step_id: str, worker_index: int, worker_count: int) -> StatelessSinkPartition:
        into = self.into

        class _Part(StatelessSinkPartition[Any]):
            def write_batch(self, items: list[Any]) -> None:
                for key, _ in items:
                    into[key] = worker_index

        return _Part()


def _run(flow: Dataflow, workers: int) -> None:
    cluster_main(flow, [], 0, worker_count_per_proc=workers)


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_a_keyed_step_keeps_each_key_on_the_worker_placement_names(workers: int) -> None:
    seen: dict[str, int] = {}
    flow = Dataflow("keys")
    items = op.input("in", flow, TestingSource([(k, 1) for k in KEYS]))
    counted = op.stateful_map("count", items, lambda n, v: ((n or 0) + v, v))
    op.output("where", counted, _WhereWritten(seen))
    _run(flow, workers)
    assert seen == {k: worker_of_key(k, workers) for k in KEYS}
    assert len(set(seen.values())) == workers  # the test can tell the workers apart


class _NamedParts(FixedPartitionedSource[str, bool]):
    """Each partition emits its own name once."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def list_parts(self) -> list[str]:
        return self.names

    def build_part(self, step_id: str, for_part: str, resume_state: bool | None) -> Any:
        class _Part(StatefulSourcePartition[str, bool]):
            done = False

            def next_batch(self) -> list[str]:
                if self.done:
                    raise StopIteration
                self.done = True
                return [for_part]

            def snapshot(self) -> bool:
                return self.done

        return _Part()


@pytest.mark.parametrize("workers", [2, 3])
def test_source_partitions_go_round_robin_over_their_sorted_names(workers: int) -> None:
    names = [partition_name(i, 12) for i in range(12)] + ["b-part", "a-part"]
    seen: dict[str, int] = {}
    flow = Dataflow("parts")
    read = op.input("in", flow, _NamedParts(names))
    op.output("where", op.map("pair", read, lambda name: (name, 0)), _WhereWritten(seen))
    _run(flow, workers)
    assert seen == {n: worker_of_partition(n, names, workers) for n in names}


class _KafkaLikeSink(FixedPartitionedSink[Any, None]):
    """The Kafka sink's partitions and ``part_fn``; records the partition each key reaches."""

    def __init__(self, names: list[str], got: dict[str, str]) -> None:
        self.names, self.got = names, got

    def list_parts(self) -> list[str]:
        return self.names

    def part_fn(self, item_key: str) -> int:
        return KafkaSink.part_fn(self, item_key)  # type: ignore[arg-type]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> Any:
        got = self.got

        class _Part(StatefulSinkPartition[Any, None]):
            def write_batch(self, values: list[Any]) -> None:
                for key in values:
                    got[key] = for_part

            def snapshot(self) -> None:
                return None

        return _Part()


def test_the_kafka_sinks_partition_of_a_symbol_is_on_the_worker_of_its_state() -> None:
    workers, names = 2, [f"kafka-{i}" for i in range(4)]
    written_on: dict[str, int] = {}
    part_of: dict[str, str] = {}
    flow = Dataflow("sink")
    keyed = op.key_on("key", op.input("in", flow, TestingSource(KEYS)), lambda k: k)
    op.output("where", op.map("pair", keyed, lambda kv: (kv[0], 0)), _WhereWritten(written_on))
    op.output(
        "sink", op.map("value", keyed, lambda kv: (kv[0], kv[0])), _KafkaLikeSink(names, part_of)
    )
    _run(flow, workers)
    sorted_names = sorted(names)
    for key in KEYS:
        assert part_of[key] == sorted_names[partition_rank_of_key(key, len(names))]
        assert worker_of_partition(part_of[key], names, workers) == worker_of_key(key, workers)


@pytest.mark.parametrize(("partitions", "workers"), [(2, 2), (4, 2), (12, 3), (12, 4)])
def test_replay_reads_a_symbol_where_its_keyed_state_lives(partitions: int, workers: int) -> None:
    loaded = load_candles(shipped_path("alts-btc_5m_2018-01"))
    source = ReplaySource([loaded], partitions=partitions, batch_size=500)
    read_on: dict[str, int] = {}
    kept_on: dict[str, int] = {}
    flow = Dataflow("replay_placement")
    batches = op.input("in", flow, source)
    op.output("read", op.map("by_symbol", batches, lambda b: (b.symbol, 0)), _WhereWritten(read_on))
    keyed = op.key_on("key", batches, lambda b: b.symbol)
    rows = op.stateful_map("rows", keyed, lambda n, b: ((n or 0) + len(b), len(b)))
    op.output("kept", rows, _WhereWritten(kept_on))
    _run(flow, workers)
    assert read_on == kept_on and set(read_on) == set(loaded.symbols)
    assert len(set(read_on.values())) > 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=24), st.sampled_from([(1, 1), (2, 1), (2, 2), (6, 3), (12, 4), (16, 8)]))
def test_replay_partition_is_on_the_keys_worker_whenever_workers_divide_partitions(
    symbol: str, shape: tuple[int, int]
) -> None:
    partitions, workers = shape
    assert 0 <= key_hash(symbol) < 2**64  # Rust's u64, whatever the library's sign
    names = [partition_name(i, partitions) for i in range(partitions)]
    name = names[partition_index(symbol, partitions)]
    assert worker_of_partition(name, names, workers) == worker_of_key(symbol, workers)


def test_portfolio_ids_land_one_per_worker_and_take_their_workers_assets() -> None:
    ids = portfolio_ids_per_worker("book", 3)
    assert [worker_of_key(i, 3) for i in ids] == [0, 1, 2]
    assert all(i.startswith("book-") for i in ids)
    groups = keys_per_worker(KEYS, 3)
    assert sorted(k for g in groups for k in g) == sorted(KEYS)
    assert all(worker_of_key(k, 3) == w for w, g in enumerate(groups) for k in g)


def test_bad_counts_are_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        worker_of_key("A", 0)
    with pytest.raises(ValueError, match="partitions must be at least 1, got 0"):
        partition_rank_of_key("A", 0)
    with pytest.raises(ValueError, match="'x' is not one of"):
        worker_of_partition("x", ["a"], 1)
