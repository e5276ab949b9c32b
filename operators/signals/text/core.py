"""Per-asset sentiment from scored posts, joined into the signal engine's batches in event time.

A post is about an asset when it tags the asset's base currency (``ETH`` for ``ETH/BTC``,
``BTC`` for ``BTC-PERP``). When a post's time is reached — the engine released every candle up
to it — the asset's sentiment is the decayed sum of its recent posts::

    aggregate(t) = clip(Σ score_i · 0.5^((t - t_i) / half_life), -1, 1)   over t - t_i < expiry

and, when ``|aggregate| ≥ min_abs_score``, a ``text:sentiment`` signal is emitted at the post's
time: direction its sign, confidence ``min(|aggregate|, max_confidence)``, live for ``expiry``
(social signals decay: older posts weigh less, and every signal expires). Its ``close`` is the
asset's last close at that time, so fusion measures its outcome and adapts its weight like any
source's. The text never reaches anything but the score: a headline is data, stored in ``meta``.

Signals are attached to the batch whose watermark passes the post's time, so fusion sees them
in event-time order with the candles; posts published after the data ends are never emitted.

>>> from datetime import UTC, datetime
>>> from operators.signals.engine import CloseTick, SignalBatch
>>> from operators.signals.text.config import TextConfig
>>> from schemas.common import Timeframe, datetime_to_ns
>>> from schemas.news import NewsPost, ScoredPost
>>> t = datetime(2018, 1, 17, 22, 40, tzinfo=UTC)
>>> post = ScoredPost(post=NewsPost(post_id="9", published_at=t, title="fees reduced",
...                                 currencies=["XMR"]), score=0.67, scorer="vader+votes")
>>> core = TextSentimentCore("XMR/BTC", TextConfig(), [post])
>>> hour = Timeframe.H1.ns
>>> close_ns = datetime_to_ns(t) - datetime_to_ns(t) % hour + hour
>>> tick = CloseTick(Timeframe.H1, close_ns - hour, 0.03)
>>> batch = core.attach(SignalBatch("XMR/BTC", close_ns, [tick]))
>>> [(s.origin, s.direction.value, s.confidence, s.meta["close"]) for s in batch.signals]
[('text:sentiment', 'long', 0.6, 0.03)]
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from typing import Any

from operators.signals.engine import SignalBatch
from operators.signals.text.config import ORIGIN, TextConfig
from schemas.common import NS_PER_MINUTE, Direction, datetime_to_ns, ns_to_datetime
from schemas.news import ScoredPost
from schemas.signals import Signal, make_signal_id


def base_currency(symbol: str) -> str:
    """The currency an asset symbol is about.

    >>> base_currency("ETH/BTC"), base_currency("BTC-PERP"), base_currency("xmr/btc:btc")
    ('ETH', 'BTC', 'XMR')
    """
    head = symbol.split("/")[0].split(":")[0]
    return head.split("-")[0].upper()


def posts_about(currency: str, posts: Iterable[ScoredPost]) -> list[ScoredPost]:
    return [p for p in posts if currency in p.post.currencies]


class TextSentimentCore:
    """One asset's pending posts, recent scores and last close (picklable)."""

    def __init__(self, asset: str, config: TextConfig, posts: Iterable[ScoredPost] = ()) -> None:
        self.asset = asset
        self.currency = base_currency(asset)
        self.config = config
        self._pending: list[tuple[int, str, ScoredPost]] = []
        self._recent: list[tuple[int, float]] = []
        self._last_close: float | None = None
        self.counts = {"posts": 0, "signals": 0, "below_threshold": 0}
        self.add(posts)

    def add(self, posts: Iterable[ScoredPost]) -> None:
        """Queue posts about this asset (others are ignored)."""
        for post in posts_about(self.currency, posts):
            ts = datetime_to_ns(post.post.published_at)
            heapq.heappush(self._pending, (ts, post.post.post_id, post))
            self.counts["posts"] += 1

    def attach(self, batch: SignalBatch) -> SignalBatch:
        """Add to ``batch`` the text signals of every post up to its watermark."""
        closes = batch.closes
        index = 0
        while self._pending and self._pending[0][0] <= batch.watermark_ns:
            ts, _, post = heapq.heappop(self._pending)
            while index < len(closes) and closes[index].close_ns <= ts:
                self._last_close = closes[index].close
                index += 1
            signal = self._signal(ts, post)
            if signal is not None:
                batch.signals.append(signal)
        if index < len(closes):
            self._last_close = closes[-1].close
        return batch

    def _signal(self, ts: int, post: ScoredPost) -> Signal | None:
        config = self.config
        expiry = config.expires_minutes * NS_PER_MINUTE
        self._recent = [(t, s) for t, s in self._recent if ts - t < expiry]
        self._recent.append((ts, post.score))
        half_life = config.half_life_minutes * NS_PER_MINUTE
        total = sum(s * math.pow(0.5, (ts - t) / half_life) for t, s in self._recent)
        aggregate = max(-1.0, min(1.0, total))
        if abs(aggregate) < config.min_abs_score or aggregate == 0:
            self.counts["below_threshold"] += 1
            return None
        meta: dict[str, Any] = {
            "post_id": post.post.post_id,
            "title": post.post.title,
            "source": post.post.source,
            "score": round(post.score, 4),
            "scorer": post.scorer,
            "aggregate": round(aggregate, 4),
            "posts": len(self._recent),
        }
        if self._last_close is not None:
            meta["close"] = self._last_close
        self.counts["signals"] += 1
        return Signal(
            signal_id=make_signal_id(ORIGIN, self.asset, post.post.post_id),
            asset=self.asset,
            direction=Direction.LONG if aggregate > 0 else Direction.SHORT,
            confidence=min(abs(aggregate), config.max_confidence),
            timeframe=config.timeframe,
            origin=ORIGIN,
            meta=meta,
            timestamp=ns_to_datetime(ts),
            expires_at=ns_to_datetime(ts + expiry),
        )
