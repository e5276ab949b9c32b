"""The trading core end to end on hand-made markets: ordering, no look-ahead, reviews,
manual actions, exits, breakers, and state that survives a pickle."""

from __future__ import annotations

import pickle
import random
from collections import Counter
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.execution.engine import TradingEngine
from operators.execution.records import (
    ManualAction,
    ManualActionResult,
    ReviewStatus,
    ReviewTicket,
)
from operators.execution.trading_config import TradingConfig
from operators.portfolio.book import EquityPoint
from operators.risk.state import TradingStateChange
from schemas.batches import CandleBatch, FeatureBatch
from schemas.common import NS_PER_MINUTE, Side, datetime_to_ns, ns_to_datetime
from schemas.records import DeadLetter
from schemas.signals import FusedSignal
from schemas.trading import (
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    Position,
    RiskDecision,
    RiskReason,
    TradingState,
)

D = Decimal
T0 = 1_641_038_400_000_000_000  # 2022-01-01 12:00 UTC, an hour boundary


def minute(k: int) -> int:
    return T0 + k * NS_PER_MINUTE


def candles(
    asset: str,
    closes: list[float],
    start: int = 0,
    volume: float = 1e6,
    opens: list[float] | None = None,
) -> CandleBatch:
    n = len(closes)
    opens = opens or [closes[0], *closes[:-1]]
    highs = [max(o, c) * 1.0005 for o, c in zip(opens, closes, strict=True)]
    lows = [min(o, c) * 0.9995 for o, c in zip(opens, closes, strict=True)]
    ts = [minute(start + i) for i in range(n)]
    return CandleBatch.from_columns(asset, "1m", ts, opens, highs, lows, closes, [volume] * n)


def signal(
    k: int, asset: str = "A/B", direction: str = "long", decision: str = "open", fid: str = ""
) -> FusedSignal:
    """A fused decision known at the close of minute ``k - 1`` (= open of minute ``k``)."""
    score = {"long": 0.8, "short": -0.8, "flat": 0.0}[direction]
    return FusedSignal(
        fused_id=fid or f"fs-{asset}-{k}",
        asset=asset,
        timestamp=ns_to_datetime(minute(k)),
        score=score,
        direction=direction,
        decision=decision,
    )


def engine(atr: float = 1.0, assets: tuple[str, ...] = ("A/B",), **cfg: Any) -> TradingEngine:
    config = TradingConfig.model_validate({"assets": assets, **cfg})
    return TradingEngine(config, atr=dict.fromkeys(assets, atr))


def of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def run(e: TradingEngine, items: list) -> list:
    return e.process(items) + e.flush()


# --- no look-ahead ------------------------------------------------------------------------------


def test_the_signal_candle_never_fills_even_when_later_candles_arrive_first() -> None:
    # minute 9 is the bar that produced the signal (closes at minute(10)); minute 10 opens at 200.
    opens = [100.0] * 10 + [200.0] * 10
    closes = [100.0] * 9 + [150.0] + [200.0] * 10
    market = candles("A/B", closes, opens=opens)
    events = run(engine(), [market, signal(10)])  # the whole batch, then the signal
    [fill] = of(events, Fill)
    assert fill.ts == ns_to_datetime(minute(10))
    assert fill.mid_price == D("200.0")  # the first bar opening at or after the signal
    [intent] = of(events, OrderIntent)
    assert intent.reference_price == D("150.0")  # sized on the close it knew


def _reference_and_shuffled(seed: int) -> tuple[list, list]:
    rng = random.Random(seed)
    closes = {
        a: [100 + 5 * np.sin(i / 7 + j) for i in range(90)] for j, a in enumerate(("A/B", "C/D"))
    }
    per_asset: dict[str, list] = {}
    for asset, series in closes.items():
        rows = [candles(asset, [c], start=i) for i, c in enumerate(series)]
        sigs = {k: signal(k, asset, rng.choice(["long", "short"])) for k in range(5, 90, 9)}
        stream = []
        for i, row in enumerate(rows):
            stream.append(row)
            if i + 1 in sigs:
                stream.append(sigs[i + 1])
        per_asset[asset] = stream
    reference = [x for pair in zip(*per_asset.values(), strict=True) for x in pair]
    # shuffle: each asset's own order kept (candles in order, a signal after its candles),
    # assets interleaved at random, and future candles allowed to overtake signals
    queues = {a: list(s) for a, s in per_asset.items()}
    shuffled = []
    while any(queues.values()):
        asset = rng.choice([a for a, q in queues.items() if q])
        take = rng.randint(1, 6)
        shuffled += queues[asset][:take]
        del queues[asset][:take]
    return reference, shuffled


@pytest.mark.parametrize("seed", range(6))
def test_arrival_order_does_not_change_any_output(seed: int) -> None:
    reference, shuffled = _reference_and_shuffled(seed)
    expected = run(engine(assets=("A/B", "C/D")), reference)
    one_by_one = engine(assets=("A/B", "C/D"))
    got = [e for item in shuffled for e in one_by_one.process([item])] + one_by_one.flush()
    assert got == expected
    assert len(of(expected, Fill)) > 4
    assert one_by_one.stats["late_signals"] == 0


def test_every_fill_comes_after_its_order_was_created() -> None:
    _, shuffled = _reference_and_shuffled(7)
    events = run(engine(assets=("A/B", "C/D")), shuffled)
    created = {o.order_id: o.created_at for o in of(events, Order)}
    assert all(f.ts >= created[f.order_id] for f in of(events, Fill))


def test_a_signal_behind_the_wait_window_is_acted_on_late_not_in_the_past() -> None:
    e = engine(signal_wait_seconds=120)
    e.process([candles("A/B", [100.0] * 30)])  # market runs 30 minutes ahead, nothing waits
    assert e.clock.now_ns == minute(28)  # bars known up to 2 minutes behind the market
    late = e.process([signal(10)]) + e.flush()
    assert e.stats["late_signals"] == 1
    [order] = [o for o in of(late, Order) if o.status is OrderStatus.NEW]
    assert order.created_at == ns_to_datetime(minute(28))  # at the core's clock, not at 10
    [fill] = of(late, Fill)
    assert fill.ts == ns_to_datetime(minute(28))  # the first bar opening after that


# --- decisions ----------------------------------------------------------------------------------


def test_open_long_enters_with_stop_and_target_and_the_audit_order() -> None:
    events = run(engine(), [candles("A/B", [100.0] * 15), signal(5)])
    kinds = [type(e).__name__ for e in events if not isinstance(e, EquityPoint)]
    assert kinds[:6] == ["FusedSignal", "OrderIntent", "RiskDecision", "Order", "Fill", "Position"]
    [intent] = of(events, OrderIntent)
    assert intent.side is Side.BUY and intent.fused_id == "fs-A/B-5"
    assert (intent.stop_price, intent.take_profit) == (D("98.0"), D("104.0"))  # 2 × ATR 1
    [decision] = of(events, RiskDecision)
    assert decision.approved and decision.estimated_fee > 0 and decision.estimated_slippage > 0
    position = of(events, Position)[-1]
    assert position.quantity == intent.quantity and position.stop_price is not None


def test_ignore_does_nothing_and_same_direction_is_not_doubled() -> None:
    e = engine()
    events = run(
        e,
        [
            candles("A/B", [100.0] * 15),
            signal(3, decision="ignore"),
            signal(5),
            signal(8, fid="again"),
        ],
    )
    assert len(of(events, OrderIntent)) == 1
    assert e.stats["fused_ignore"] == 1 and e.stats["already_positioned"] == 1


def test_an_opposite_open_reverses_the_position() -> None:
    events = run(engine(), [candles("A/B", [100.0] * 15), signal(3), signal(8, direction="short")])
    intents = of(events, OrderIntent)
    assert [(i.side, i.reduce_only) for i in intents] == [
        (Side.BUY, False),
        (Side.SELL, True),
        (Side.SELL, False),
    ]
    assert of(events, Position)[-1].quantity == -intents[-1].quantity


def test_refusals_before_an_intent_exist_are_still_decisions() -> None:
    no_atr = TradingEngine(TradingConfig())
    events = run(no_atr, [candles("A/B", [100.0] * 5), signal(3)])
    [decision] = of(events, RiskDecision)
    assert decision.reason is RiskReason.SIZING and "no ATR available yet" in decision.detail
    assert of(events, OrderIntent) == []
    no_market = engine()
    [decision] = of(run(no_market, [signal(3, asset="Z/Z")]), RiskDecision)
    assert decision.reason is RiskReason.STALE_DATA
    no_short = engine(portfolio={"allow_short": False})
    [decision] = of(
        run(no_short, [candles("A/B", [100.0] * 5), signal(3, direction="short")]), RiskDecision
    )
    assert decision.reason is RiskReason.SHORTS_DISABLED and "allow_short" in decision.detail


def test_stop_exit_fills_on_the_next_bar() -> None:
    closes = [100.0] * 6 + [99.0, 97.0, 96.0, 96.0]
    events = run(engine(), [candles("A/B", closes), signal(5)])
    exit_intent = next(i for i in of(events, OrderIntent) if i.reduce_only)
    assert exit_intent.reason.startswith("stop at 98")
    assert exit_intent.timestamp == ns_to_datetime(minute(8))  # close of the bar at minute 7
    exit_fill = next(f for f in of(events, Fill) if f.side is Side.SELL)
    assert exit_fill.ts == ns_to_datetime(minute(8))  # the bar after the trigger
    assert of(events, Position)[-1].quantity == 0


def test_partial_at_one_r_then_target() -> None:
    closes = [100.0] * 6 + [101.0, 102.5, 103.0, 104.5, 104.5, 104.5]
    events = run(engine(), [candles("A/B", closes), signal(5)])
    exits = [i for i in of(events, OrderIntent) if i.reduce_only]
    assert [i.reason.split(" ")[0] for i in exits] == ["partial", "take_profit"]
    entry = of(events, OrderIntent)[0]
    assert exits[0].quantity == entry.quantity / 2
    assert of(events, Position)[-1].quantity == 0


# --- people -------------------------------------------------------------------------------------


THIN = {"max_participation_pct": 1, "pov_rate_pct": 1, "large_order_algo": "pov"}


def action(k: int, kind: str, **fields: Any) -> ManualAction:
    return ManualAction(
        action_id=f"a-{k}-{kind}", kind=kind, actor="ops", ts=ns_to_datetime(minute(k)), **fields
    )


def test_review_is_queued_then_approved_by_a_person() -> None:
    e = engine()
    events = run(
        e,
        [
            candles("A/B", [100.0] * 15),
            signal(4, decision="review"),
            action(6, "approve_review", fused_id="fs-A/B-4"),
        ],
    )
    tickets = of(events, ReviewTicket)
    assert [t.status for t in tickets] == [ReviewStatus.QUEUED, ReviewStatus.APPROVED]
    assert tickets[1].actor == "ops"
    [result] = of(events, ManualActionResult)
    assert result.applied
    [intent] = of(events, OrderIntent)
    assert intent.timestamp == ns_to_datetime(minute(6))  # acted on when approved
    assert of(events, Fill)[0].ts >= ns_to_datetime(minute(6))


def test_reviews_can_be_rejected_or_expire() -> None:
    e = engine(review_ttl_seconds=300)
    events = run(
        e,
        [
            candles("A/B", [100.0] * 20),
            signal(2, decision="review"),
            signal(3, decision="review", asset="A/B", fid="second"),
            action(4, "reject_review", fused_id="second"),
            action(12, "approve_review", fused_id="fs-A/B-2"),
        ],
    )
    statuses = [(t.fused_id, t.status) for t in of(events, ReviewTicket)]
    assert ("second", ReviewStatus.REJECTED) in statuses
    assert ("fs-A/B-2", ReviewStatus.EXPIRED) in statuses  # 5 minutes after minute 2
    late_approval = of(events, ManualActionResult)[-1]
    assert not late_approval.applied and "no queued review" in late_approval.detail
    assert of(events, OrderIntent) == []


def test_halt_by_hand_cancels_working_orders_and_refuses_new_ones() -> None:
    e = engine(execution=THIN)
    thin = candles("A/B", [100.0] * 30, volume=20.0)  # fills 0.2 per bar: the entry keeps working
    events = run(
        e,
        [
            thin,
            signal(3),
            action(5, "set_trading_state", state="halted", reason="x"),
            signal(8, direction="short", fid="blocked"),
        ],
    )
    [change] = of(events, TradingStateChange)
    assert change.current is TradingState.HALTED and change.cause == "manual"
    cancelled = [o for o in of(events, Order) if o.status is OrderStatus.CANCELLED]
    assert len(cancelled) == 1 and "trading halted" in cancelled[0].reason
    denied = of(events, RiskDecision)[-1]
    assert denied.reason is RiskReason.HALTED and not denied.approved
    assert e.trading_state is TradingState.HALTED


def test_reducing_by_hand_still_lets_stops_out() -> None:
    closes = [100.0] * 6 + [99.0, 97.0, 96.0, 96.0]
    events = run(
        engine(),
        [candles("A/B", closes), signal(5), action(6, "set_trading_state", state="reducing")],
    )
    stop = next(i for i in of(events, OrderIntent) if i.reduce_only)
    assert stop.reason.startswith("stop")
    assert [d.reason for d in of(events, RiskDecision)] == [RiskReason.APPROVED] * 2
    assert of(events, RiskDecision)[-1].trading_state is TradingState.REDUCING
    assert of(events, Position)[-1].quantity == 0


def test_reducing_lets_a_reversal_close_but_not_open() -> None:
    events = run(
        engine(),
        [
            candles("A/B", [100.0] * 15),
            signal(5),
            action(6, "set_trading_state", state="reducing"),
            signal(8, direction="short"),
        ],
    )
    reduce_only = {i.intent_id: i.reduce_only for i in of(events, OrderIntent)}
    decisions = [(reduce_only[d.intent_id], d.reason) for d in of(events, RiskDecision)]
    assert decisions == [
        (False, RiskReason.APPROVED),  # the long entry
        (True, RiskReason.APPROVED),  # the reversal closes it
        (False, RiskReason.REDUCING_ONLY),  # the short entry is refused
    ]
    assert of(events, Position)[-1].quantity == 0


def test_cancel_and_close_by_hand() -> None:
    e = engine(execution=THIN)
    thin = candles("A/B", [100.0] * 30, volume=20.0)
    events = run(
        e,
        [
            thin,
            signal(3),
            action(5, "cancel_order", order_id="ord:fs-A/B-3:entry"),
            action(6, "close_position", asset="A/B"),
            action(7, "close_position", asset="Q/Q"),
        ],
    )
    results = of(events, ManualActionResult)
    assert [r.applied for r in results] == [True, True, False]
    assert of(events, Position)[-1].quantity == 0


def test_unusable_input_goes_to_dead_letters() -> None:
    e = engine()
    bad = CandleBatch.from_columns(
        "A/B", "1m", [minute(0)], [1.0], [1.0], [1.0], [float("nan")], [1.0]
    )
    letters = e.process(["not a record", bad])
    assert [d.reason for d in of(letters, DeadLetter)] == ["unsupported_input", "unusable_candle"]
    assert e.stats["dead_lettered"] == 2


def test_drawdown_breaker_halts_and_cancels() -> None:
    closes = [100.0] * 6 + [60.0] * 10  # a crash through the stop and the drawdown limit
    e = engine(
        risk={
            "max_drawdown_pct": 5,
            "daily_loss_limit_pct": 50,
            "max_asset_exposure_pct": 100,
            "max_total_exposure_pct": 100,
            "max_position_notional": "100000",
        },
        portfolio={"sizing": {"risk_per_trade_pct": 10}},
    )
    events = run(e, [candles("A/B", closes), signal(5)])
    changes = [(c.cause, c.current) for c in of(events, TradingStateChange)]
    assert ("max_drawdown", TradingState.HALTED) in changes
    assert e.trading_state is TradingState.HALTED


# --- equity and state ---------------------------------------------------------------------------


def test_equity_is_sampled_on_the_interval_and_at_the_end() -> None:
    e = engine(portfolio={"equity_interval_seconds": 600})
    events = run(e, [candles("A/B", [100.0] * 25)])
    stamps = [datetime_to_ns(p.ts) for p in of(events, EquityPoint)]
    assert stamps == [minute(10), minute(20), minute(25)]


def test_state_survives_a_pickle_midway() -> None:
    _, shuffled = _reference_and_shuffled(3)
    straight = run(engine(assets=("A/B", "C/D")), shuffled)
    first = engine(assets=("A/B", "C/D"))
    half = len(shuffled) // 2
    out = first.process(shuffled[:half])
    resumed: TradingEngine = pickle.loads(pickle.dumps(first))
    out += resumed.process(shuffled[half:]) + resumed.flush()
    assert out == straight


def test_features_set_the_atr_when_they_become_known() -> None:
    e = TradingEngine(TradingConfig(atr_timeframe="1m"))
    market = candles("A/B", [100.0] * 10)
    atr = np.full(10, np.nan)
    atr[4:] = 2.0
    features = FeatureBatch(market, {"atr_20": atr})
    events = run(e, [market, features, signal(3), signal(7, fid="after")])
    reasons = [d.reason for d in of(events, RiskDecision)]
    assert reasons == [RiskReason.SIZING, RiskReason.APPROVED]
    assert of(events, OrderIntent)[0].stop_price == D("96.0")  # 2 × ATR 2


@given(
    plan=st.lists(
        st.tuples(st.integers(2, 58), st.sampled_from(["long", "short", "flat"])), max_size=12
    ),
    max_notional=st.integers(min_value=5_000, max_value=60_000),
)
@settings(max_examples=40, deadline=None)
def test_positions_never_exceed_the_position_limit(plan: list, max_notional: int) -> None:
    closes = [100 + 8 * np.sin(i / 5) for i in range(60)]
    e = engine(risk={"max_position_notional": str(max_notional)})
    sigs = [signal(k, direction=d, fid=f"s{i}") for i, (k, d) in enumerate(sorted(plan))]
    events = run(e, [candles("A/B", closes), *sigs])
    reference: dict[str, Decimal] = {}
    for event in events:
        if isinstance(event, OrderIntent) and not event.reduce_only:
            assert event.quantity * event.reference_price <= max_notional
            reference[event.asset] = event.reference_price
        if isinstance(event, Position) and event.quantity:
            assert abs(event.quantity) * reference[event.asset] <= max_notional
    assert Counter(type(x).__name__ for x in events)["FusedSignal"] == len(sigs)


def test_a_run_ending_on_a_sampling_instant_gets_one_point_there() -> None:
    e = engine(portfolio={"equity_interval_seconds": 600})
    events = run(e, [candles("A/B", [100.0] * 10, start=-10)])  # last bar closes at minute 0
    stamps = [datetime_to_ns(p.ts) for p in of(events, EquityPoint)]
    assert stamps == [minute(0)]
    assert of(e.flush(), EquityPoint) == []  # nothing new: no second final point


# --- fusion progress ----------------------------------------------------------------------------


def test_fusion_progress_releases_market_data_without_waiting_for_a_decision() -> None:
    from schemas.signals import FusionProgress

    e = engine(portfolio={"equity_interval_seconds": 60})
    e.process([candles("A/B", [100.0] * 30)])
    assert e.clock.now_ns is None or e.clock.now_ns < minute(1)  # held: no decision seen yet
    events = e.process([FusionProgress(asset="A/B", ts=ns_to_datetime(minute(20)))])
    points = of(events, EquityPoint)
    assert points, "the candles known before the watermark are processed"
    assert max(datetime_to_ns(p.ts) for p in points) < minute(20)
    assert not of(e.flush(), FusedSignal)


def test_a_progress_marker_never_lets_market_data_overtake_a_decision() -> None:
    from schemas.signals import FusionProgress

    # The decision at minute 10 arrives before the marker that follows it, as fusion sends
    # them; the fill must be the same as with the decision alone.
    opens = [100.0] * 10 + [200.0] * 10
    closes = [100.0] * 9 + [150.0] + [200.0] * 10
    market = candles("A/B", closes, opens=opens)
    marker = FusionProgress(asset="A/B", ts=ns_to_datetime(minute(10)))
    with_marker = run(engine(), [market, signal(10), marker])
    without = run(engine(), [market, signal(10)])
    assert [f.model_dump() for f in of(with_marker, Fill)] == [
        f.model_dump() for f in of(without, Fill)
    ]


# --- feed health ----------------------------------------------------------------------------------


def test_an_unhealthy_feed_stops_entries_until_it_is_live_again() -> None:
    from schemas.market import FeedHealth

    def health(status: str, k: int) -> FeedHealth:
        ts = ns_to_datetime(minute(k))
        return FeedHealth(source="binance", symbol="A/B", status=status, ts=ts, event="status")

    market = candles("A/B", [100.0] * 40)
    stale = run(engine(), [health("stale", 0), market, signal(10)])
    [denied] = of(stale, RiskDecision)
    assert denied.reason is RiskReason.STALE_DATA and "binance feed stale" in denied.detail
    assert not of(stale, OrderIntent)

    recovered = run(engine(), [health("stale", 0), health("live", 1), market, signal(10)])
    assert [d.reason for d in of(recovered, RiskDecision)] == [RiskReason.APPROVED]
