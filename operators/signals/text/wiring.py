"""The text source's registration point in the flow: off when no news is configured.

:func:`add_text_source` reads and scores the configured news (before the flow runs), adds the
sentiment signals between the signal engine and fusion, and hands back the guard to put between
fusion and the trading core. Without ``text.news`` it returns the streams untouched: the flow,
its steps and its decisions are exactly those without a text source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.operators import KeyedStream

from operators.signals.engine import SignalBatch
from operators.signals.text.operators import text_guards, with_text_signals

if TYPE_CHECKING:
    from flows.config import QuorumConfig


def _unchanged(stream: Stream[Any]) -> Stream[Any]:
    return stream


@dataclass
class TextSource:
    batches: KeyedStream[SignalBatch]
    guard: Callable[[Stream[Any]], Stream[Any]] = _unchanged
    dead: list[Stream[Any]] = field(default_factory=list)
    posts: int = 0


def add_text_source(
    flow: Dataflow, batches: KeyedStream[SignalBatch], config: QuorumConfig
) -> TextSource:
    """Wire the text source into ``flow`` when ``config.text.news`` names files.

    The configuration was validated on load (files exist, the timeframe is built).
    """
    text = config.text
    if not text.enabled:
        return TextSource(batches)
    from connectors.news.replay import RecordsSource, replay_news

    news = replay_news(text, config.llm)
    with_text = with_text_signals("text_signals", batches, text, news.posts)

    def guard(timeline: Stream[Any]) -> Stream[Any]:
        return text_guards("text_guards", timeline, text, news.posts)

    dead = [op.input("news_dead_letters", flow, RecordsSource(news.dead))] if news.dead else []
    return TextSource(with_text, guard, dead, len(news.posts))
