"""Bytewax operators of the text source: thin wrappers over the per-asset cores.

``with_text_signals`` sits between the signal engine and fusion and adds each asset's
sentiment signals to its batches; ``text_guards`` sits between fusion and the trading core and
applies the news filter and the sign-off rule. Both hold the replayed posts of their asset in
their (picklable) state.

>>> from datetime import UTC, datetime
>>> from bytewax.dataflow import Dataflow
>>> import bytewax.operators as op
>>> from bytewax.testing import TestingSink, TestingSource, run_main
>>> from operators.signals.engine import CloseTick, SignalBatch
>>> from schemas.common import Timeframe, datetime_to_ns
>>> from schemas.news import NewsPost, ScoredPost
>>> t = datetime(2018, 1, 18, 0, 30, tzinfo=UTC)
>>> posts = [ScoredPost(post=NewsPost(post_id="1", published_at=t, title="Litecoin dev update",
...                                   currencies=["LTC"]), score=0.26, scorer="vader+votes")]
>>> close = datetime_to_ns(t) + 30 * 60 * 10**9
>>> batch = SignalBatch("LTC/BTC", close, [CloseTick(Timeframe.H1, close, 0.017)])
>>> flow = Dataflow("doc")
>>> keyed = op.key_on("key", op.input("in", flow, TestingSource([batch])), lambda b: b.symbol)
>>> out = []
>>> op.output("out", with_text_signals("text", keyed, TextConfig(), posts), TestingSink(out))
>>> run_main(flow)
>>> [(s.origin, s.direction.value, round(s.confidence, 2)) for _, b in out for s in b.signals]
[('text:sentiment', 'long', 0.26)]
"""

from __future__ import annotations

import copy
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import KeyedStream, StatefulBatchLogic

from operators.risk.news_filter import NewsFilter
from operators.signals.engine import SignalBatch
from operators.signals.text.config import TextConfig
from operators.signals.text.core import TextSentimentCore
from schemas.news import ScoredPost
from schemas.signals import FusedSignal


class _TextLogic(StatefulBatchLogic[SignalBatch, SignalBatch, TextSentimentCore | None]):
    def __init__(
        self, config: TextConfig, posts: list[ScoredPost], core: TextSentimentCore | None
    ) -> None:
        self.config = config
        self.posts = posts
        self.core = core

    def on_batch(self, values: list[SignalBatch]) -> tuple[list[SignalBatch], bool]:
        for batch in values:
            if self.core is None:
                self.core = TextSentimentCore(batch.symbol, self.config, self.posts)
            self.core.attach(batch)
        return values, StatefulBatchLogic.RETAIN

    def snapshot(self) -> TextSentimentCore | None:
        return copy.deepcopy(self.core)


@operator
def with_text_signals(
    step_id: str,
    up: KeyedStream[SignalBatch],
    config: TextConfig,
    posts: list[ScoredPost],
) -> KeyedStream[SignalBatch]:
    """Signal batches keyed by asset → the same batches plus the asset's text signals."""
    return op.stateful_batch("core", up, lambda resumed: _TextLogic(config, posts, resumed))


def _guard_step(config: TextConfig, posts: list[ScoredPost]) -> Any:
    def step(state: NewsFilter | None, item: Any) -> tuple[NewsFilter | None, Any]:
        if state is None:
            state = NewsFilter(item.asset, config, posts)
        if isinstance(item, FusedSignal):
            return state, state.apply(item)
        return state, item

    return step


@operator
def text_guards(
    step_id: str, up: Stream[Any], config: TextConfig, posts: list[ScoredPost]
) -> Stream[Any]:
    """Fused decisions (and progress marks, passed through) → guarded decisions, in order."""
    keyed = op.key_on("by_asset", up, lambda item: item.asset)
    guarded = op.stateful_map("guard", keyed, _guard_step(config, posts))
    return op.map("unkey", guarded, lambda keyed_item: keyed_item[1])
