"""Metering in the flow: who is metered for what, and a crash replay metered once."""

from __future__ import annotations

from datetime import timedelta

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, run_main

from connectors.store.billing import read_usage
from connectors.store.metering import MeteringSink
from operators.billing.catalogue import load_catalogue
from operators.billing.metering import Roster, meter
from schemas.billing import SubscriptionStatus
from schemas.signals import Decision
from tests.billing.conftest import day, fused, subscription

CAT = load_catalogue()


def test_each_customer_metered_by_plan() -> None:
    roster = Roster(
        CAT,
        [
            subscription("ana", "pro"),
            subscription("cy", "per_signal"),
            subscription("bea", "basic"),
        ],
    )
    review = meter(fused("f1", day(3)), roster)
    assert sorted((u.customer_id, u.price_minor) for u in review) == [("ana", 0), ("cy", 50)]
    opened = meter(fused("f2", day(3), Decision.OPEN), roster)
    by_customer = {u.customer_id: u for u in opened}
    assert sorted(by_customer) == ["ana", "bea", "cy"]
    assert by_customer["bea"].delivered_at == day(3) + timedelta(minutes=15)  # Basic's delay
    assert by_customer["ana"].attribution == {
        "rules:rsi_reversal_short@1h": 0.5,
        "stat:trend_strength@4h": 0.5,
    }
    assert meter(fused("f3", day(3), Decision.IGNORE), roster) == []


def test_trial_ending_inside_the_delay_delivers_nothing() -> None:
    trial = subscription("bea", "basic", status=SubscriptionStatus.TRIALING, trial_days=2)
    roster = Roster(CAT, [trial])
    last_minute = day(3) - timedelta(minutes=5)  # trial ends at day 3 00:00, delay 15 min
    assert meter(fused("f1", last_minute, Decision.OPEN), roster) == []
    assert len(meter(fused("f2", last_minute - timedelta(minutes=15), Decision.OPEN), roster)) == 1


def _flow(items, url, seen):
    flow = Dataflow("metering_test")
    stream = op.input("in", flow, TestingSource(items))
    op.output("seen", stream, TestingSink(seen))
    op.output("meter", stream, MeteringSink(url))
    return flow


def test_a_replay_after_a_crash_is_metered_once(billing_store, tmp_path) -> None:
    url, engine = billing_store
    signals = [fused(f"f{i}", day(2, i), Decision.OPEN) for i in range(6)]
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    init_db_dir(recovery, 1)
    items = [*signals[:4], TestingSource.ABORT(), *signals[4:]]
    seen: list = []
    config = RecoveryConfig(str(recovery))
    # An hour-long epoch: no snapshot before the abort, so the resume re-delivers f0..f3.
    run_main(_flow(items, url, seen), epoch_interval=timedelta(hours=1), recovery_config=config)
    assert len(read_usage(engine)) == 4 * 3  # three customers, four signals before the crash
    run_main(_flow(items, url, seen), epoch_interval=timedelta(hours=1), recovery_config=config)
    assert len(seen) == 10  # four signals were delivered to the sinks twice
    usage = read_usage(engine)
    assert len(usage) == 6 * 3
    assert len({(u.customer_id, u.signal_id) for u in usage}) == 18
    assert sum(u.price_minor for u in usage) == 6 * 50  # only the per-signal customer pays
