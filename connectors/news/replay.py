"""Recorded news for a replay: the configured files read, scored and ready for the flow.

Scoring happens here, before the flow starts (VADER, or the configured model through the
assistant with VADER as fallback), so no step of the flow waits for a model. Bad lines become
dead letters that :class:`RecordsSource` puts on the flow's dead-letter stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bytewax.inputs import DynamicSource, StatelessSourcePartition

from connectors.llm.config import LlmConfig
from connectors.news.files import read_posts
from operators.signals.text.config import TextConfig
from operators.signals.text.sentiment import VaderScorer
from schemas.news import NewsPost, ScoredPost
from schemas.records import DeadLetter


@dataclass
class ReplayedNews:
    posts: list[ScoredPost]
    dead: list[DeadLetter]
    scorer_failures: list[str] = field(default_factory=list)


def _llm_scorer(llm: LlmConfig, fallback: VaderScorer) -> Any:
    from connectors.llm.factory import build_assistant
    from connectors.store.engine import open_store
    from operators.signals.text.llm_scorer import LlmHeadlineScorer

    return LlmHeadlineScorer(build_assistant(llm, open_store(llm.store)), fallback)


def replay_news(config: TextConfig, llm: LlmConfig) -> ReplayedNews:
    """Read every configured news file and score its posts (see the module docstring)."""
    posts: dict[str, NewsPost] = {}
    dead: list[DeadLetter] = []
    for path in config.news:
        read, bad = read_posts(path)
        dead.extend(bad)
        for post in read:
            posts.setdefault(post.post_id, post)
    ordered = sorted(posts.values(), key=lambda p: (p.published_at, p.post_id))
    vader = VaderScorer(config.vote_weight)
    if config.scorer == "llm" and llm.enabled:
        scorer = _llm_scorer(llm, vader)
        return ReplayedNews(scorer.score_all(ordered), dead, scorer.failures)
    return ReplayedNews([vader.scored(p) for p in ordered], dead)


class _Once(StatelessSourcePartition[Any]):
    def __init__(self, items: Sequence[Any]) -> None:
        self._items = list(items)
        self._done = False

    def next_batch(self) -> list[Any]:
        if self._done:
            raise StopIteration
        self._done = True
        return self._items


class RecordsSource(DynamicSource[Any]):
    """Emits a fixed list of records once (on worker 0), then ends."""

    def __init__(self, items: Sequence[Any]) -> None:
        self._items = list(items)

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Once:
        return _Once(self._items if worker_index == 0 else [])
