"""The language model as an optional headline scorer, VADER standing in whenever it fails.

Headlines go to the model in batches through the assistant's guarded path (redacted, cached,
budgeted, audited); the answer must be ``{"scores": [{"id", "sentiment"}]}`` with every
sentiment in [-1, 1] (:class:`~operators.explain.outputs.HeadlineScores`) — anything else is
rejected. Scores for ids that were not asked are ignored; a headline the answer leaves out, or
a batch whose call fails, is scored by VADER. The model's number then goes through the same
vote blend and the same confidence cap as VADER's, so a headline can move one bounded score
and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

from connectors.llm.client import LlmError
from operators.explain.assistant import Assistant
from operators.explain.outputs import HeadlineScores
from operators.explain.prompts import SCORE_HEADLINES
from operators.signals.text.sentiment import VaderScorer, vote_balance
from schemas.news import NewsPost, ScoredPost

BATCH = 20


class LlmHeadlineScorer:
    """Scores posts with the model (see the module docstring); ``failures`` counts fallbacks."""

    def __init__(self, assistant: Assistant, fallback: VaderScorer, batch: int = BATCH) -> None:
        self.assistant = assistant
        self.fallback = fallback
        self.batch = batch
        self.failures: list[str] = []

    @property
    def name(self) -> str:
        return f"llm:{self.assistant.model}+votes"

    def score_all(self, posts: Sequence[NewsPost]) -> list[ScoredPost]:
        out: list[ScoredPost] = []
        for start in range(0, len(posts), self.batch):
            chunk = posts[start : start + self.batch]
            model_scores = self._ask(chunk)
            for post in chunk:
                sentiment = model_scores.get(post.post_id)
                if sentiment is None:
                    out.append(self.fallback.scored(post))
                else:
                    out.append(
                        ScoredPost(post=post, score=self._blend(post, sentiment), scorer=self.name)
                    )
        return out

    def _ask(self, chunk: Sequence[NewsPost]) -> dict[str, float]:
        inputs = {
            "headlines": [
                {"id": p.post_id, "title": p.title, "currencies": list(p.currencies)} for p in chunk
            ]
        }
        try:
            answer = self.assistant.ask(SCORE_HEADLINES, inputs, HeadlineScores).value
        except LlmError as exc:
            self.failures.append(str(exc))
            return {}
        asked = {p.post_id for p in chunk}
        return {s.id: s.sentiment for s in answer.scores if s.id in asked}

    def _blend(self, post: NewsPost, sentiment: float) -> float:
        balance, counted = vote_balance(post.votes, self.fallback.vote_prior)
        weight = self.fallback.vote_weight if counted else 0.0
        return max(-1.0, min(1.0, (1 - weight) * sentiment + weight * balance))
