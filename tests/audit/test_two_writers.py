"""The flow's chain writer and the API share one audit log: both append, nothing breaks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.store.audit import AuditChainSink, append_events, iter_chain, verify_store
from connectors.store.engine import open_store
from operators.audit.chain import AuditEvent

T0 = datetime(2022, 1, 1, tzinfo=UTC)


def flow_events(start: int, n: int) -> list[AuditEvent]:
    return [
        AuditEvent("fill", T0 + timedelta(minutes=i), {"fill_id": f"f{i}"})
        for i in range(start, start + n)
    ]


def test_an_api_append_between_flow_batches_keeps_the_chain_whole(tmp_path: Path) -> None:
    url = str(tmp_path / "store.sqlite")
    sink = AuditChainSink(url)
    part = sink.build_part("audit", "audit", None)
    part.write_batch(flow_events(0, 3))
    engine = open_store(url)
    append_events(engine, [AuditEvent("review_decision", T0, {"by": "ana", "fused_id": "x"})])
    part.write_batch(flow_events(3, 2))  # must not trip over the API's record
    part.close()

    assert verify_store(engine, ledger=False).ok
    kinds = [(r.seq, r.kind) for r in iter_chain(engine)]
    assert kinds == [
        (0, "fill"),
        (1, "fill"),
        (2, "fill"),
        (3, "review_decision"),
        (4, "fill"),
        (5, "fill"),
    ]
    engine.dispose()


def test_a_resumed_writer_skips_what_it_wrote_before_the_crash(tmp_path: Path) -> None:
    url = str(tmp_path / "store.sqlite")
    sink = AuditChainSink(url)
    first = sink.build_part("audit", "audit", None)
    first.write_batch(flow_events(0, 2))
    snapshot = first.snapshot()
    first.write_batch(flow_events(2, 2))  # written, then the flow crashed before a snapshot
    first.close()
    engine = open_store(url)
    append_events(engine, [AuditEvent("review_decision", T0, {"by": "ana"})])

    resumed = sink.build_part("audit", "audit", snapshot)
    resumed.write_batch(flow_events(2, 3))  # the replay repeats f2, f3 and brings f4
    resumed.close()

    assert verify_store(engine, ledger=False).ok
    fills = [r.payload["fill_id"] for r in iter_chain(engine) if r.kind == "fill"]
    assert fills == ["f0", "f1", "f2", "f3", "f4"]
    engine.dispose()
