"""Guards on decisions a text source could sway, applied between fusion and the trading core.

* **News filter** (the seed playbook's): no long entry while strongly negative news about the
  asset is recent — an OPEN or REVIEW long decision within ``window_minutes`` after a post
  scoring at most ``negative_below`` about the asset becomes IGNORE, with the veto saying why.
* **Sign-off**: an OPEN decision that counts a text signal becomes REVIEW — nothing a text or
  model source influenced trades without a person's approval.

Pure: a decision in, the same or a guarded copy out (``model_copy``; the id is kept).

>>> from datetime import UTC, datetime, timedelta
>>> from operators.signals.text.config import TextConfig
>>> from schemas.news import NewsPost, ScoredPost
>>> from schemas.signals import Decision, FusedSignal
>>> t = datetime(2018, 1, 15, 3, tzinfo=UTC)
>>> bad = ScoredPost(post=NewsPost(post_id="1", published_at=t - timedelta(minutes=50),
...                  title="ICO Scam Alert!", currencies=["NEO"]), score=-0.62, scorer="vader")
>>> guard = NewsFilter("NEO/BTC", TextConfig(), [bad])
>>> fused = FusedSignal(fused_id="f", asset="NEO/BTC", timestamp=t, score=0.8,
...                     direction="long", decision=Decision.OPEN)
>>> guarded = guard.apply(fused)
>>> guarded.decision.value, guarded.veto
('ignore', "news filter: strongly negative news about NEO 50 min earlier (score -0.62):
 'ICO Scam Alert!'")
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from operators.signals.text.config import TextConfig
from operators.signals.text.core import base_currency, posts_about
from schemas.common import NS_PER_MINUTE, Direction, datetime_to_ns
from schemas.news import ScoredPost
from schemas.signals import Decision, FusedSignal

TEXT_PREFIX = "text:"


class NewsFilter:
    """The guards of one asset over its strongly negative posts (picklable)."""

    def __init__(self, asset: str, config: TextConfig, posts: Iterable[ScoredPost] = ()) -> None:
        self.asset = asset
        self.currency = base_currency(asset)
        self.config = config
        self._negative: list[tuple[int, str, float, str]] = []
        self.counts = {"news_filtered": 0, "sent_to_review": 0}
        self.add(posts)

    def add(self, posts: Iterable[ScoredPost]) -> None:
        floor = self.config.news_filter.negative_below
        for post in posts_about(self.currency, posts):
            if post.score <= floor:
                item = (
                    datetime_to_ns(post.post.published_at),
                    post.post.post_id,
                    post.score,
                    post.post.title,
                )
                bisect.insort(self._negative, item)

    def _recent_negative(self, now_ns: int) -> tuple[int, str, float, str] | None:
        window = self.config.news_filter.window_minutes * NS_PER_MINUTE
        lo = bisect.bisect_right(self._negative, (now_ns - window, "\uffff"))
        hi = bisect.bisect_right(self._negative, (now_ns, "\uffff"))
        hits = self._negative[lo:hi]
        return min(hits, key=lambda h: (h[2], -h[0])) if hits else None

    def apply(self, fused: FusedSignal) -> FusedSignal:
        decision, veto, reasons = fused.decision, fused.veto, list(fused.reasons)
        now_ns = datetime_to_ns(fused.timestamp)
        if (
            self.config.news_filter.enabled
            and decision is not Decision.IGNORE
            and fused.direction is Direction.LONG
        ):
            hit = self._recent_negative(now_ns)
            if hit is not None:
                ts, _, score, title = hit
                minutes = (now_ns - ts) // NS_PER_MINUTE
                veto = (
                    f"news filter: strongly negative news about {self.currency} {minutes} min "
                    f"earlier (score {score:+.2f}): {title[:80]!r}"
                )
                reasons.append(f"{veto} → ignore")
                decision = Decision.IGNORE
                self.counts["news_filtered"] += 1
        if (
            self.config.open_needs_review
            and decision is Decision.OPEN
            and any(c.origin.startswith(TEXT_PREFIX) for c in fused.contributions)
        ):
            decision = Decision.REVIEW
            reasons.append("a text signal counted: an OPEN needs a person's sign-off → review")
            self.counts["sent_to_review"] += 1
        if decision is fused.decision:
            return fused
        return fused.model_copy(update={"decision": decision, "veto": veto, "reasons": reasons})
