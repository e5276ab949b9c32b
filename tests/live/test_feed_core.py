"""Pure cores shared by the live sources: gate, cursors, backoff, health, outbox, REST rows."""

from __future__ import annotations

import asyncio
import pickle
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.feed.backoff import Backoff, BackoffPolicy
from connectors.feed.cursor import FeedCursor, TimeCursor
from connectors.feed.gate import Hole, SequenceGate
from connectors.feed.health import FeedStats, FeedStatus, HealthMonitor
from connectors.feed.outbox import Outbox
from connectors.feed.rest import (
    RestCaller,
    RetryPolicy,
    candle_row,
    retry_after_seconds,
    trade_row,
)
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import Timeframe
from schemas.market import BookTop
from schemas.records import DeadLetter

pytestmark = pytest.mark.timeout(60)

WALL = datetime(2024, 1, 1, tzinfo=UTC)


# --- SequenceGate ---------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=60),
    data=st.data(),
)
def test_gate_releases_every_key_once_in_order_whatever_the_arrival(n, data):
    """Live frames arrive shuffled, duplicated and with some lost; REST fills what was lost."""
    keys = list(range(101, 101 + n))
    lost = set(data.draw(st.sets(st.sampled_from(keys)), label="lost"))
    arrivals = [k for k in keys if k not in lost]
    arrivals += data.draw(st.lists(st.sampled_from(keys), max_size=10), label="duplicates")
    arrivals = data.draw(st.permutations(arrivals), label="arrival order")
    gate = SequenceGate(step=1, last=100, reorder_window=1.0)
    released: list[int] = []
    now = 0.0
    for key in arrivals:
        now += 0.01
        released += gate.offer(key, key, now)
    for _ in range(n + 1):  # each overdue hole is fetched; REST has everything
        now += 2.0
        hole = gate.missing(now)
        if hole is None:
            break
        gate.start_backfill()
        fetched = [(k, k) for k in range(hole.first, hole.last + 1)]
        released += gate.finish_backfill(fetched, now).released
    # everything up to the newest key seen live; a lost tail is the next catch-up's job
    assert released == list(range(101, max(arrivals, default=100) + 1))
    assert gate.held == 0
    assert gate.duplicates == len(arrivals) - len(set(arrivals))


def test_gate_skips_a_hole_rest_cannot_fill_and_says_so():
    gate = SequenceGate(step=60, last=0, reorder_window=0.5)
    assert gate.offer(240, "d", now=0.0) == []
    assert gate.missing(now=0.4) is None
    assert gate.missing(now=0.6) == Hole(60, 180)
    gate.start_backfill()
    outcome = gate.finish_backfill([(60, "a")], now=0.7)  # REST had only part of it
    assert outcome.released == ["a"] and outcome.skipped is None
    assert gate.missing(now=1.3) == Hole(120, 180)
    gate.start_backfill()
    outcome = gate.finish_backfill([], now=1.4)  # nothing more exists: skip, report, go on
    assert outcome.skipped == Hole(120, 180) and outcome.released == ["d"]
    assert gate.last == 240


def test_gate_holds_live_data_during_a_catch_up():
    gate = SequenceGate(step=1, last=10, reorder_window=0.0)
    assert gate.resync() == Hole(11, None)
    assert gate.offer(14, "n", now=0.0) == []  # live, while REST is being asked
    assert gate.missing(now=5.0) is None  # no second fetch while one is in flight
    outcome = gate.finish_backfill([(11, "k"), (12, "l"), (13, "m"), (14, "n")], 1.0, bounded=False)
    assert outcome.released == ["k", "l", "m", "n"] and outcome.filled == 3
    assert gate.duplicates == 0 and gate.held == 0


def test_gate_open_ended_catch_up_never_skips():
    gate = SequenceGate(step=1, last=10, reorder_window=0.0)
    gate.resync()
    gate.offer(20, "t", now=0.0)
    outcome = gate.finish_backfill([], now=1.0, bounded=False)
    assert outcome.skipped is None and outcome.released == []
    assert gate.missing(now=1.0) == Hole(11, 19)  # asked for again, bounded this time


def test_gate_fresh_start_waits_for_late_first_frames():
    gate = SequenceGate(step=1, reorder_window=0.5)
    assert gate.resync() is None  # nothing to catch up from
    assert gate.offer(7, "g", now=0.0) == []
    assert gate.offer(5, "e", now=0.1) == []
    assert gate.poll(now=0.3) == []
    assert gate.offer(6, "f", now=0.4) == []
    assert gate.poll(now=0.6) == ["e", "f", "g"]
    assert gate.offer(5, "e", now=0.7) == [] and gate.duplicates == 1


def test_gate_state_pickles_and_rejects_bad_settings():
    gate = SequenceGate(step=60_000, last=0)
    gate.offer(120_000, (1,), now=0.0)
    clone = pickle.loads(pickle.dumps(gate))
    assert clone.held == 1 and clone.last == 0
    with pytest.raises(ValueError, match="step must be > 0"):
        SequenceGate(step=0)
    with pytest.raises(ValueError, match="reorder_window must be >= 0"):
        SequenceGate(reorder_window=-1)


# --- cursors --------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    times=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=6),
)
def test_time_cursor_admits_each_trade_once_over_overlapping_polls(times, cuts):
    rows = [(1000 + i, ts, 1.0, 1.0, 1000 + i, 1) for i, ts in enumerate(sorted(times))]
    cursor = TimeCursor()
    seen: list[int] = []
    for cut in [*sorted(cuts), len(rows)]:
        since = cursor.since_ms
        window = [r for r in rows[:cut] if since is None or r[1] >= since]  # a poll "since"
        seen += [r[0] for r in cursor.admit(window)]
    assert seen == [r[0] for r in rows]


def test_feed_cursor_snapshot_round_trip_and_resume():
    cursor = FeedCursor()
    cursor.note_trades("A/B", [(5, 100, 1.0, 1.0, 5, 1), (6, 100, 1.0, 1.0, 6, -1)])
    cursor.note_trades("A/B", [(7, 100, 1.0, 1.0, 7, 1)])
    state = pickle.loads(pickle.dumps(cursor.to_state()))
    restored = FeedCursor.from_state(state)
    assert restored.trades["A/B"].keys_at_last_ts == frozenset({5, 6, 7})
    resumed = TimeCursor(restored.trades["A/B"])
    assert [r[0] for r in resumed.admit([(6, 100, 1.0, 1.0, 6, 1), (8, 100, 1.0, 1.0, 8, 1)])] == [
        8
    ]
    assert FeedCursor.from_state(None).to_state() == {"trades": {}, "candles": {}}


# --- backoff --------------------------------------------------------------------------------------
@given(
    initial=st.floats(0.01, 5),
    factor=st.floats(1, 4),
    jitter=st.floats(0, 1),
    seed=st.integers(0, 2**32),
)
def test_backoff_delays_stay_within_their_ceiling(initial, factor, jitter, seed):
    policy = BackoffPolicy(initial=initial, factor=factor, maximum=initial * 10, jitter=jitter)
    backoff = Backoff(policy, random.Random(seed))
    for _ in range(200):
        ceiling = backoff.ceiling()
        delay = backoff.next_delay()
        assert ceiling * (1 - jitter) - 1e-12 <= delay <= ceiling <= policy.maximum


def test_backoff_is_reproducible_with_a_seed_and_rejects_bad_policies():
    a = Backoff(BackoffPolicy(), random.Random(1))
    b = Backoff(BackoffPolicy(), random.Random(1))
    assert [a.next_delay() for _ in range(5)] == [b.next_delay() for _ in range(5)]
    with pytest.raises(ValueError, match="jitter must be within"):
        BackoffPolicy(jitter=2)
    with pytest.raises(ValueError, match="maximum 1 must be >= initial 2"):
        BackoffPolicy(initial=2, maximum=1)


# --- health ---------------------------------------------------------------------------------------
def test_health_monitor_statuses_and_heartbeats():
    mon = HealthMonitor("x", ["A/B"], stale_after=2, heartbeat_every=5, wall=lambda: WALL)
    stats = FeedStats(reconnects=3)

    def poll(now: float) -> list[tuple[str, str]]:
        return [(h.status.value, h.event) for h in mon.poll(now, stats)]

    assert poll(0) == [("disconnected", "status")]
    mon.set_connected(True, 0)
    mon.catching_up("A/B", True)
    assert poll(0.1) == [("catching_up", "status")]
    mon.catching_up("A/B", False)
    mon.message("A/B", 0.2)
    assert poll(0.2) == [("live", "status")]
    assert poll(3.0) == [("stale", "status")]
    assert poll(7.0) == []
    assert poll(8.1) == [("stale", "heartbeat")]
    mon.note("A/B", "gap skipped: trades 5..9")
    assert poll(8.2) == [("stale", "gap skipped: trades 5..9")]
    record = mon.poll(20.0, stats)[0]
    assert record.counters.reconnects == 3 and record.silence_s == pytest.approx(19.8)
    assert not record.accepting_entries
    with pytest.raises(ValueError, match="stale_after must be > 0"):
        HealthMonitor("x", [], stale_after=0, heartbeat_every=1)


# --- outbox ---------------------------------------------------------------------------------------
def test_outbox_batches_per_symbol_conflates_quotes_and_tracks_what_was_emitted():
    box = Outbox("s")
    box.put_trades("A/B", [(1, 10, 1.0, 2.0, 1, 1)])
    box.put_trades("C/D", [(9, 11, 3.0, 4.0, 9, -1)])
    box.put_trades("A/B", [(2, 12, 1.5, 2.5, 2, -1)])
    box.put_candles("A/B", Timeframe.M1, [(60_000, 1.0, 2.0, 0.5, 1.5, 10.0, 3)])
    for bid in (1.0, 2.0):
        box.put_quote(BookTop(symbol="A/B", ts=WALL, bid=bid, ask=3.0, bid_size=1, ask_size=1))
    box.put(DeadLetter(source="s", reason="r", detail="d", raw="x"))
    assert box.snapshot() == {"trades": {}, "candles": {}}  # nothing emitted yet
    items = box.drain()
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["DeadLetter", "TradeBatch", "TradeBatch", "CandleBatch", "BookTop"]
    ab = items[1]
    assert isinstance(ab, TradeBatch) and ab.symbol == "A/B"
    assert ab.ts_ns.tolist() == [10_000_000, 12_000_000] and ab.trade_id.tolist() == [1, 2]
    candle = items[3]
    assert isinstance(candle, CandleBatch) and candle.trades.tolist() == [3]
    assert items[4].bid == 2.0 and box.quotes_conflated == 1
    assert box.snapshot() == {
        "trades": {"A/B": (2, 12, (2,)), "C/D": (9, 11, (9,))},
        "candles": {"A/B": {"1m": 60_000}},
    }


# --- REST rows and retries ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("trade", "field"),
    [
        ({"id": "1", "timestamp": None, "price": 1.0, "amount": 1.0}, "'timestamp'"),
        ({"id": "1", "timestamp": 5, "price": "1.0", "amount": 1.0}, "'price'"),
        ({"id": "1", "timestamp": 5, "price": 1.0, "amount": True}, "'amount'"),
    ],
)
def test_malformed_rest_trades_name_the_field(trade, field):
    with pytest.raises(ValueError, match=field):
        trade_row(trade)


def test_rest_rows():
    assert trade_row({"id": "42", "timestamp": 5, "price": 2.0, "amount": 0.5, "side": "sell"}) == (
        42,
        5,
        2.0,
        0.5,
        42,
        -1,
    )
    assert candle_row([60_000, 1, 2, 0.5, 1.5, 9]) == (60_000, 1.0, 2.0, 0.5, 1.5, 9.0, 0)
    with pytest.raises(ValueError, match="6 fields"):
        candle_row([1, 2])
    with pytest.raises(ValueError, match="'close'"):
        candle_row([60_000, 1, 2, 0.5, None, 9])


def test_retry_after_header_forms():
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after_seconds({"retry-after": later}, now) == pytest.approx(30)
    assert retry_after_seconds({"Retry-After": "2.5"}) == 2.5
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds(None) is None


class FlakyExchange:
    """Fails with the given ccxt errors, then answers; records the headers ccxt would keep."""

    def __init__(self, errors: list[Exception], retry_after: str | None) -> None:
        self.errors = errors
        self.last_response_headers = {"Retry-After": retry_after} if retry_after else {}
        self.calls = 0

    async def fetch_time(self) -> int:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return 123


def test_rest_caller_waits_what_retry_after_asks_then_backs_off():
    import ccxt.async_support as ccxt

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    exchange = FlakyExchange(
        [
            ccxt.RateLimitExceeded("429"),
            ccxt.RateLimitExceeded("429"),
            ccxt.ExchangeNotAvailable("503"),
        ],
        retry_after="7",
    )
    policy = RetryPolicy(attempts=5, backoff=BackoffPolicy(1.0, 2.0, 10.0, 0.0), max_wait=60)
    caller = RestCaller(exchange, policy, sleep=sleep)
    assert asyncio.run(caller.call("fetch_time")) == 123
    assert waits == [7.0, 7.0, 1.0] and caller.stats.rest_retries == 3 and exchange.calls == 4

    exchange = FlakyExchange([ccxt.RateLimitExceeded("429")] * 3, retry_after="600")
    caller = RestCaller(exchange, RetryPolicy(attempts=3, max_wait=30), sleep=sleep)
    with pytest.raises(ccxt.RateLimitExceeded):
        asyncio.run(caller.call("fetch_time"))
    assert waits[-2:] == [30, 30]  # capped

    exchange = FlakyExchange([ccxt.BadSymbol("no such market")], retry_after=None)
    with pytest.raises(ccxt.BadSymbol):  # not transient: no retry
        asyncio.run(RestCaller(exchange, sleep=sleep).call("fetch_time"))
    assert exchange.calls == 1


def test_feed_status_values_are_stable():
    # stored in feed_status/feed_events: values are only ever added ("closed": closed hours)
    assert [s.value for s in FeedStatus] == [
        "live", "stale", "catching_up", "disconnected", "closed"
    ]  # fmt: skip
