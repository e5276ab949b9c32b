"""Sentiment of a post towards its currencies: VADER on the title, blended with community votes.

VADER (Hutto & Gilbert, 2014) is a lexicon and rules model shipped inside the
``vadersentiment`` wheel: nothing to download, deterministic, microseconds per headline. Its
``compound`` score (-1 … +1) is blended with the readers' votes, shrunk towards zero when they
are few::

    votes = (up - down) / (up + down + vote_prior)      up = positive + liked
    score = (1 - w) · compound + w · votes                down = negative + disliked + toxic

with ``w = vote_weight`` when the post has any up/down vote, else 0.

>>> from datetime import UTC, datetime
>>> from schemas.news import NewsPost
>>> scorer = VaderScorer()
>>> post = NewsPost(post_id="1", published_at=datetime(2018, 1, 15, tzinfo=UTC),
...                 title="THEKEY ICO Scam Alert!", votes={"negative": 9, "positive": 0})
>>> round(scorer.compound(post.title), 4), round(scorer.score(post), 4)
(-0.4199, -0.5394)
"""

from __future__ import annotations

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from schemas.news import NewsPost, ScoredPost

UP_VOTES = ("positive", "liked")
DOWN_VOTES = ("negative", "disliked", "toxic")


def vote_balance(votes: dict[str, int], prior: float) -> tuple[float, int]:
    """``(balance, votes counted)``: (up - down) / (up + down + prior).

    >>> vote_balance({"positive": 8, "negative": 0, "important": 2}, 2.0)
    (0.8, 8)
    """
    up = sum(votes.get(k, 0) for k in UP_VOTES)
    down = sum(votes.get(k, 0) for k in DOWN_VOTES)
    counted = up + down
    return ((up - down) / (counted + prior) if counted else 0.0), counted


class VaderScorer:
    """The local scorer (see the module docstring)."""

    name = "vader+votes"

    def __init__(self, vote_weight: float = 0.3, vote_prior: float = 2.0) -> None:
        if not 0.0 <= vote_weight <= 1.0:
            raise ValueError(f"vote_weight must be within [0, 1], got {vote_weight}")
        if vote_prior <= 0:
            raise ValueError(f"vote_prior must be > 0, got {vote_prior}")
        self.vote_weight = vote_weight
        self.vote_prior = vote_prior
        self._vader = SentimentIntensityAnalyzer()

    def compound(self, text: str) -> float:
        return float(self._vader.polarity_scores(text)["compound"])

    def score(self, post: NewsPost) -> float:
        compound = self.compound(post.title)
        balance, counted = vote_balance(post.votes, self.vote_prior)
        weight = self.vote_weight if counted else 0.0
        return max(-1.0, min(1.0, (1 - weight) * compound + weight * balance))

    def scored(self, post: NewsPost) -> ScoredPost:
        return ScoredPost(post=post, score=self.score(post), scorer=self.name)
