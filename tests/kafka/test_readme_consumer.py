"""The README's consumer example, extracted and run against a real broker (Tansu)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main

from connectors.kafka.config import KafkaConfig
from connectors.kafka.sink import KafkaSink, publish

ROOT = Path(__file__).resolve().parents[2]


def _example() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- consumer-example -->\n```python\n(.*?)```", readme, re.DOTALL)
    assert match, "README lost its consumer example"
    return match.group(1)


def test_the_example_is_at_most_15_lines() -> None:
    assert len(_example().strip().splitlines()) <= 15


def test_the_readme_consumer_prints_fused_signals_once(
    tansu: str, sample_records: list[Any], tmp_path: Path
) -> None:
    fused = next(r for r in sample_records if type(r).__name__ == "FusedSignal")
    flow = Dataflow("readme")
    # the same decision twice (a replay after a crash): the consumer prints it once
    publish("kafka", op.input("in", flow, TestingSource([fused, fused])), KafkaSink(
        KafkaConfig(bootstrap_servers=tansu)))  # fmt: skip
    run_main(flow)
    script = tmp_path / "consumer.py"
    script.write_text(_example())
    process = subprocess.Popen(
        [sys.executable, "-u", str(script), tansu], stdout=subprocess.PIPE, text=True
    )
    lines: Queue[str] = Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True).start()
    try:
        first = lines.get(timeout=60)
        assert first.split() == ["2022-01-03T12:00:00Z", "BTC/USDT", "review", "0.7"]
        time.sleep(3)  # the copy is in the same partition, right behind: it must not print
        try:
            extra = lines.get_nowait()
        except Empty:
            extra = None
        assert extra is None
    finally:
        process.kill()
        process.wait(timeout=10)
