"""Hand-computed revenue share, performance fees (drawdown then recovery) and KPIs."""

from __future__ import annotations

from datetime import timedelta

from operators.billing.catalogue import load_catalogue
from operators.billing.kpis import month_kpis
from operators.billing.ledger import revenue_share_posting
from operators.billing.performance_fee import HighWaterMark, monthly_fee
from operators.billing.revenue_share import share_revenue
from schemas.billing import SubscriptionStatus, UsageEvent
from tests.billing.conftest import JAN, day, subscription

CAT = load_catalogue()
FEB = day(32)


def _use(customer: str, signal: str, price: int, attribution: dict[str, float]) -> UsageEvent:
    return UsageEvent(
        usage_id=f"{customer}-{signal}",
        customer_id=customer,
        signal_id=signal,
        asset="BTC-PERP",
        decision="review",
        plan_id="x",
        price_minor=price,
        delivered_at=day(5),
        attribution=attribution,
    )


def test_revenue_share_by_hand() -> None:
    rsi, trend, ema = (
        "rules:rsi_reversal_short@15m",
        "stat:trend_strength@1h",
        "rules:ema_cross_long@4h",
    )
    usage = [
        # per-signal customer: two signals at 50 cents
        _use("cy", "f1", 50, {rsi: 0.5, trend: 0.5}),
        _use("cy", "f2", 50, {rsi: 0.2, ema: 0.8}),
        # Pro subscriber: 9,900 cents spread over three signals → 3,300 each
        _use("ana", "f1", 0, {rsi: 0.5, trend: 0.5}),
        _use("ana", "f2", 0, {rsi: 0.2, ema: 0.8}),
        _use("ana", "f3", 0, {trend: 1.0}),
    ]
    share = share_revenue("2022-01", usage, {"ana": 9900}, CAT, outcomes={"f1": 12.5})
    # signals: f1 → ana 25, bo 25; f2 → ana 10, platform 40
    assert share.attributed_by_author["revenue:signals"] == {"ana": 35, "bo": 25, "platform": 40}
    # subscriptions: f1 3300 → 1650/1650; f2 3300 → ana 660, platform 2640; f3 → bo 3300
    assert share.attributed_by_author["revenue:subscriptions"] == {
        "ana": 2310, "bo": 4950, "platform": 2640,
    }  # fmt: skip
    statements = {s.author: s for s in share.statements}
    assert statements["ana"].attributed_minor == 2345
    assert statements["ana"].payable_minor == 1641  # 70 % of 2,345 = 1,641.5, rounded down
    assert statements["bo"].payable_minor == 3482  # 70 % of 4,975 = 3,482.5
    f1 = next(line for line in statements["ana"].lines if line.signal_id == "f1")
    assert (f1.deliveries, f1.revenue_minor, f1.outcome_bps) == (2, 1675, 12.5)

    posting = revenue_share_posting("2022-01", share.shared(), share.payable_by_author, FEB)
    amounts = {e.account: e.amount_minor for e in posting.entries}
    assert amounts == {
        "revenue:signals": 60,  # ana 35 + bo 25 leave revenue; the platform's 40 stay
        "revenue:subscriptions": 7260,
        "payable:author:ana": -1641,
        "payable:author:bo": -3482,
        "fees:platform": -(7320 - 1641 - 3482),
    }


def test_performance_fee_drawdown_then_recovery() -> None:
    """Start 10,000.00; +10 %, a drawdown, a partial recovery, then a new high."""
    state = HighWaterMark(mark_minor=1_000_000)
    fees = []
    for equity in (1_100_000, 1_000_000, 1_070_000, 1_090_000, 1_150_000):
        fee, state = monthly_fee(state, equity_minor=equity, percent=20)
        fees.append((fee, state.mark_minor))
    assert fees == [
        (20_000, 1_080_000),  # 20 % of 1,000.00 gain; mark = net 1,080,000 after the fee
        (0, 1_080_000),  # drawdown: net 980,000
        (0, 1_080_000),  # recovery below the mark: net 1,050,000
        (0, 1_080_000),  # net 1,070,000: still under the mark
        (10_000, 1_120_000),  # net 1,130,000: 50,000 above the mark → 10,000 fee
    ]
    assert state.fees_charged_minor == 30_000


def test_kpis_for_a_month_with_a_conversion_an_expiry_and_a_churn() -> None:
    subs = [
        subscription("ana", "pro", trial_days=14),  # trial converts on the 15th
        subscription(
            "dan", "basic", status=SubscriptionStatus.EXPIRED, trial_days=14, ended_at=day(15)
        ),
        subscription("bea", "basic", status=SubscriptionStatus.CANCELED, ended_at=day(20)),
        subscription("cy", "per_signal"),
    ]
    k = month_kpis(CAT, subs, {"ana": 9900, "bea": 2900, "cy": 750}, JAN, FEB)
    assert k.mrr_minor == 9900 + 0  # bea churned, cy pays per signal, dan expired
    assert k.arpu_minor == (9900 + 2900 + 750) // 3
    assert (k.trials_ended, k.trials_converted, k.trials_expired) == (2, 1, 1)
    assert k.trial_conversion == 0.5
    assert (k.churned, k.paying_in_month) == (1, 3)  # ana (from the 15th), bea, cy
    assert abs(k.churn_rate - 1 / 3) < 1e-12
    assert month_kpis(CAT, subs, {}, FEB, FEB + timedelta(days=28)).trials_ended == 0
