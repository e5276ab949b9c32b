"""The simulator's fault matrix against the Binance source: whatever the connection does, every
published trade arrives once, in order, with the exchange's values, and the 1-minute candles
built from what arrived equal those built from the exchange's own tape (a clean run).

Each case flips its faults through the same plan `quorum simulator --faults` takes.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from connectors.binance.session import Ending
from connectors.simulator.fault_plan import parse_fault_plan, run_fault_plan
from operators.candles.minute import MinuteCandleBuilder
from schemas.batches import TradeBatch

from .conftest import Collected, drain_until, fast_config, published_ids, wait_for

pytestmark = pytest.mark.timeout(90)

SILENCE_AFTER = {"reconnect_after_silence": 0.5}
MATRIX = {  # the plan, source settings, and the evidence that the faults really hit it
    "dropped connection": ("drop@0", {}, lambda sim, part, got: part.session.stats.reconnects),
    "stalled connection": ("stall@0", SILENCE_AFTER, lambda sim, part, got: silent_end(part)),
    "silence": ("silence:1@0", SILENCE_AFTER, lambda sim, part, got: silent_end(part)),
    "corrupt frames": ("corrupt:4@0", {}, lambda sim, part, got: len(got.dead) == 4),
    "duplicated frames": (
        "duplicate:30@0",
        {},
        lambda sim, part, got: part.session.stats.duplicates_dropped == 30,
    ),
    "reordered frames": (
        "reorder:12@0",
        {"reorder_window": 1.0},
        lambda sim, part, got: part.session.stats.rows_backfilled == 0,  # set straight, no REST
    ),
    "REST 429 during the catch-up": (
        "refuse:1@0,rest:429x2@0,drop@0",
        {},
        lambda sim, part, got: refused(sim, 429) == 2 and part.session.stats.rest_retries >= 2,
    ),
    "REST 500 during the catch-up": (
        "refuse:1@0,rest:500x2@0,drop@0",
        {},
        lambda sim, part, got: refused(sim, 500) == 2 and part.session.stats.rest_retries >= 2,
    ),
}


def refused(sim, status: int) -> int:
    """REST requests the simulator answered with ``status``, any path."""
    return sum(1 for _path, _query, code in sim.rest.stats.requests if code == status)


def silent_end(part) -> bool:
    return Ending.SILENT in part.session.endings


def candles(batches: list[TradeBatch]) -> list[tuple]:
    builder = MinuteCandleBuilder("BTC/USDT")
    out = []
    for batch in [*batches]:
        out += builder.update(batch).candles.to_candles()
    out += builder.flush().candles.to_candles()
    return [(c.ts, c.open, c.high, c.low, c.close, c.volume, c.trades) for c in out]


def clean_batch(sim) -> TradeBatch:
    """What the exchange printed: the published rows of its tape, as one batch."""
    tape = sim.markets["BTCUSDT"].trades
    published = tape.trades.count_at_or_before(sim.now_ms())
    ts_ms, rows = tape.trades.rows(0, published)
    return TradeBatch.from_columns(
        "BTC/USDT",
        ts_ms * 1_000_000,
        [float(f"{p:.8f}") for p in tape.trades.column("price", rows)],
        [float(f"{q:.8f}") for q in tape.trades.column("qty", rows)],
        tape.ids(0, published),
    )


@pytest.mark.parametrize(("plan", "settings", "hit"), list(MATRIX.values()), ids=list(MATRIX))
def test_no_trade_lost_or_repeated_and_candles_equal_a_clean_run(
    sim, open_source, plan, settings, hit
) -> None:
    part = open_source(fast_config(sim, **settings))
    got = Collected()
    drain_until(part, got, lambda: part.session.subscriptions >= 1, "subscription")
    sim.advance(2_000)
    drain_until(part, got, lambda: got.trade_ids() == published_ids(sim), "the first trades")

    run_fault_plan(sim, parse_fault_plan(plan), threading.Event())
    sim.advance(4_000)
    wait_for(lambda: not (sim.faults.silent or sim.faults.refusing), "timed faults to end")
    sim.advance(2_000)
    drain_until(part, got, lambda: got.trade_ids() == published_ids(sim), "every trade")

    drain_until(part, got, lambda: hit(sim, part, got), "the fault's effect on the source")
    ids = got.trade_ids()
    assert len(ids) == len(set(ids)) == len(published_ids(sim)) > 200  # 0 lost, 0 repeated
    arrived = got.trades["BTC/USDT"]
    clean = clean_batch(sim)
    assert np.concatenate([b.price for b in arrived]).tolist() == clean.price.tolist()
    assert np.concatenate([b.amount for b in arrived]).tolist() == clean.amount.tolist()
    assert candles(arrived) == candles([clean])
