"""The text source's cores: decayed per-asset sentiment, event-time joining, guards, resume."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

from operators.fusion.config import FusionConfig
from operators.fusion.core import FusionCore
from operators.risk.news_filter import NewsFilter
from operators.signals.engine import CloseTick, SignalBatch
from operators.signals.text.config import TextConfig
from operators.signals.text.core import TextSentimentCore
from schemas.common import Timeframe, datetime_to_ns
from schemas.news import NewsPost, ScoredPost
from schemas.signals import Contribution, Decision, FusedSignal

T0 = datetime(2018, 1, 17, 22, 0, tzinfo=UTC)
HOUR = Timeframe.H1.ns


def post(post_id: str, minutes: float, score: float, codes=("TRX",), title="news") -> ScoredPost:
    return ScoredPost(
        post=NewsPost(
            post_id=post_id,
            published_at=T0 + timedelta(minutes=minutes),
            title=title,
            currencies=list(codes),
        ),
        score=score,
        scorer="vader+votes",
    )


def batch(until_minutes: float, closes=()) -> SignalBatch:
    ticks = [
        CloseTick(Timeframe.H1, datetime_to_ns(T0 + timedelta(minutes=m)), c) for m, c in closes
    ]
    return SignalBatch("TRX/BTC", datetime_to_ns(T0 + timedelta(minutes=until_minutes)), ticks)


def test_aggregate_decays_with_half_life_and_caps_confidence():
    core = TextSentimentCore(
        "TRX/BTC",
        TextConfig(),
        [post("a", 0, 0.4), post("b", 60, 0.4), post("c", 60, -0.1, codes=("ETH",))],
    )
    signals = core.attach(batch(120, closes=[(0, 0.0001)])).signals
    # b at +60 min: 0.4 + 0.4 · 0.5^(60/60) = 0.6, the cap
    assert [(s.meta["post_id"], round(s.confidence, 6), s.meta["aggregate"]) for s in signals] == [
        ("a", 0.4, 0.4),
        ("b", 0.6, 0.6),
    ]
    assert signals[1].expires_at - signals[1].timestamp == timedelta(minutes=240)
    assert signals[0].meta["close"] == 0.0001 and signals[0].timeframe is Timeframe.H1


def test_posts_outside_the_expiry_do_not_count_and_weak_sentiment_emits_nothing():
    core = TextSentimentCore(
        "TRX/BTC", TextConfig(), [post("a", 0, 0.5), post("b", 240, -0.3), post("c", 250, 0.2)]
    )
    signals = core.attach(batch(300)).signals
    # b: a is 240 min old (= expiry) and no longer counts → -0.3;
    # c: 0.2 - 0.3 · 0.5^(10/60) = -0.067, weaker than 0.15: no signal
    assert [(s.meta["post_id"], s.direction.value, s.meta["aggregate"]) for s in signals] == [
        ("a", "long", 0.5),
        ("b", "short", -0.3),
    ]
    assert core.counts == {"posts": 3, "signals": 2, "below_threshold": 1}


def test_a_post_waits_for_the_batch_whose_watermark_passes_it():
    core = TextSentimentCore("TRX/BTC", TextConfig(), [post("late", 90, 0.5)])
    assert core.attach(batch(60, closes=[(60, 0.1)])).signals == []
    signals = core.attach(batch(120, closes=[(120, 0.2)])).signals
    assert [(s.meta["post_id"], s.meta["close"]) for s in signals] == [("late", 0.1)]


def test_state_pickles_and_resumes_identically():
    posts = [post(str(i), 20 * i, 0.3 if i % 2 else -0.4) for i in range(8)]
    whole = TextSentimentCore("TRX/BTC", TextConfig(), posts)
    expected = [s for m in (50, 100, 200) for s in whole.attach(batch(m)).signals]
    first = TextSentimentCore("TRX/BTC", TextConfig(), posts)
    got = first.attach(batch(50)).signals
    resumed = pickle.loads(pickle.dumps(first))
    got += [s for m in (100, 200) for s in resumed.attach(batch(m)).signals]
    assert got == expected and len(got) == 4  # the other four are weaker than 0.15


def test_text_signal_is_fused_and_its_reliability_tracked_like_any_source():
    core = TextSentimentCore("TRX/BTC", TextConfig(), [post("a", 5, 0.5)])
    fusion = FusionCore("TRX/BTC", FusionConfig())
    first = core.attach(batch(60, closes=[(0, 1.0), (60, 1.1)]))
    out = fusion.process(first)
    fused = [o for o in out if isinstance(o, FusedSignal)]
    assert fused[0].contributions[0].origin == "text:sentiment"
    assert fused[0].decision is Decision.REVIEW  # 0.5 · weight 1 = 0.5: review from 0.5
    for hour in range(2, 7):  # the signal expires at +245 min; the 1h close after resolves it
        fusion.process(core.attach(batch(60 * hour, closes=[(60 * hour, 1.2)])))
    [record] = [
        r
        for r in fusion.reliability.snapshot("TRX/BTC", T0 + timedelta(hours=6), only_changed=False)
        if r.origin == "text:sentiment"
    ]
    assert (record.resolved, record.hits) == (1, 1)


def _fused(minutes: float, decision: Decision, direction="long", text=False) -> FusedSignal:
    contributions = [
        Contribution(
            origin="text:sentiment" if text else "rules:x",
            timeframe="1h",
            direction=direction,
            confidence=0.8,
            weight=1.0,
            signed=0.8,
            share=0.8,
            signal_id="s",
        )
    ]
    return FusedSignal(
        fused_id=f"f{minutes}",
        asset="TRX/BTC",
        timestamp=T0 + timedelta(minutes=minutes),
        score=0.8,
        direction=direction,
        decision=decision,
        contributions=contributions,
    )


def test_news_filter_blocks_long_entries_within_the_window_only():
    guard = NewsFilter(
        "TRX/BTC", TextConfig(), [post("bad", 0, -0.7, title="Tron hacked"), post("mild", 5, -0.3)]
    )
    assert guard.apply(_fused(-1, Decision.OPEN)).decision is Decision.OPEN  # before the news
    blocked = guard.apply(_fused(30, Decision.REVIEW))
    assert blocked.decision is Decision.IGNORE and "'Tron hacked'" in blocked.veto
    assert blocked.fused_id == "f30" and blocked.reasons[-1].endswith("→ ignore")
    assert guard.apply(_fused(30, Decision.OPEN, "short")).decision is Decision.OPEN
    assert guard.apply(_fused(61, Decision.OPEN)).decision is Decision.OPEN  # window over
    other = NewsFilter("ETH/BTC", TextConfig(), [post("bad", 0, -0.7)])
    assert other.apply(_fused(30, Decision.OPEN)).decision is Decision.OPEN
    off = NewsFilter("TRX/BTC", TextConfig(news_filter={"enabled": False}), [post("b", 0, -0.7)])
    assert off.apply(_fused(30, Decision.OPEN)).decision is Decision.OPEN


def test_an_open_counting_a_text_signal_goes_to_a_person():
    guard = NewsFilter("TRX/BTC", TextConfig())
    assert guard.apply(_fused(0, Decision.OPEN, text=True)).decision is Decision.REVIEW
    assert guard.apply(_fused(0, Decision.OPEN)).decision is Decision.OPEN
    free = NewsFilter("TRX/BTC", TextConfig(open_needs_review=False))
    assert free.apply(_fused(0, Decision.OPEN, text=True)).decision is Decision.OPEN
