"""News and social posts, the text signal source's input, in one shape whatever the feed.

>>> from datetime import UTC, datetime
>>> post = NewsPost(post_id="1", published_at=datetime(2018, 1, 15, tzinfo=UTC),
...                 title="NEO reaches record high", currencies=["neo"])
>>> post.currencies, post.votes
(('NEO',), {})
"""

from __future__ import annotations

from pydantic import Field, field_validator

from schemas.common import Frozen, UtcDatetime


class NewsPost(Frozen):
    """One post as an aggregator (CryptoPanic and the like) published it."""

    post_id: str = Field(min_length=1, max_length=64, description="The feed's id, unique in it")
    published_at: UtcDatetime
    title: str = Field(min_length=1, max_length=1_000)
    source: str = Field(default="", max_length=200, description="Publisher, e.g. Reddit")
    domain: str = Field(default="", max_length=200)
    currencies: tuple[str, ...] = Field(
        default=(), description="Tagged currency codes (upper case), e.g. ('ETH', 'LTC')"
    )
    votes: dict[str, int] = Field(
        default_factory=dict, description="Community votes: positive, negative, important, …"
    )
    url: str = Field(default="", max_length=2_000)

    @field_validator("currencies", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(str(v).strip().upper() for v in value if str(v).strip())
        return value

    @field_validator("votes")
    @classmethod
    def _non_negative(cls, value: dict[str, int]) -> dict[str, int]:
        for name, count in value.items():
            if count < 0:
                raise ValueError(f"vote count {name!r} must be >= 0, got {count}")
        return value


class ScoredPost(Frozen):
    """A post with its sentiment towards its currencies, scored before it enters the flow."""

    post: NewsPost
    score: float = Field(ge=-1.0, le=1.0, description="-1 very negative … +1 very positive")
    scorer: str = Field(description="vader+votes, or llm:<model>")
