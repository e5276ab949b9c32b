"""End to end on the real BTC perpetual month: features → signals → fusion in a Bytewax flow."""

from __future__ import annotations

from collections import Counter

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from operators.fusion import FusionConfig, fuse
from operators.signals import SignalsConfig, generate_signals, signals_of
from schemas.common import datetime_to_ns
from schemas.signals import Decision


def run_flow(batches, batch_size: int):
    flow = Dataflow("signals_e2e")
    features = op.key_on(
        "by_symbol", op.input("in", flow, TestingSource(batches, batch_size)), lambda b: b.symbol
    )
    signal_batches = generate_signals("signals", features, SignalsConfig())
    fused = fuse("fusion", signal_batches, FusionConfig())
    signals, decisions, reliability = [], [], []
    op.output("signals_out", signals_of("flat", signal_batches), TestingSink(signals))
    op.output("fused_out", fused.fused, TestingSink(decisions))
    op.output("reliability_out", fused.reliability, TestingSink(reliability))
    run_main(flow)
    return signals, decisions, reliability


@pytest.fixture(scope="module")
def outputs(month_replay_batches):
    return run_flow(month_replay_batches, 5)


def test_signals_are_sane(outputs, month_features):
    signals, _, _ = outputs
    origins = Counter(s.origin.split(":")[0] for s in signals)
    assert origins["rules"] > 50 and origins["stat"] > 500 and origins["ml"] > 500
    closes = {
        tf: set((batch.candles.ts_ns + tf.ns).tolist()) for tf, batch in month_features.items()
    }
    for s in signals:
        assert datetime_to_ns(s.timestamp) in closes[s.timeframe]  # stamped at a candle close
        assert s.expires_at > s.timestamp and 0 <= s.confidence <= 1
    assert len({s.signal_id for s in signals}) == len(signals)
    seed = [s for s in signals if s.origin == "rules:btc_long"]
    assert seed and all(s.meta["gate"]["timeframes"] == ["1h", "4h"] for s in seed)


def test_fused_decisions_are_sane(outputs):
    signals, decisions, reliability = outputs
    by_id = {s.signal_id: s for s in signals}
    assert len(decisions) > 500
    assert [d.timestamp for d in decisions] == sorted(d.timestamp for d in decisions)
    for fused in decisions:
        assert -1 <= fused.score <= 1
        assert sum(c.share for c in fused.contributions) == pytest.approx(fused.score, abs=1e-9)
        for c in fused.contributions:  # only live signals count
            signal = by_id[c.signal_id]
            assert signal.timestamp <= fused.timestamp < signal.expires_at
        if fused.conflict:
            assert any(r.startswith("conflict") for r in fused.reasons)
        if fused.decision is Decision.OPEN:
            assert abs(fused.score) > 0.7
    final = {r.source: r for r in reliability}
    assert {"ml:online@15m", "stat:zscore_reversion@1h"} <= final.keys()
    for record in final.values():
        assert 0.5 - 1e-9 <= record.weight / record.prior <= 2.0 + 1e-9


def test_deterministic_across_runs_and_batch_sizes(outputs, month_replay_batches):
    again = run_flow(month_replay_batches, 17)
    assert again == outputs
