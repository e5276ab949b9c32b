"""Replay of recorded news: a JSON-lines file of feed records, in publication order.

A line that is not a post becomes a dead letter naming the file, the line and the problem; it
never stops the replay.

>>> from connectors.files.shipped import DATA_DIR
>>> posts, dead = read_posts(DATA_DIR / "cryptopanic-posts_2018-01-18.jsonl")
>>> len(posts), len(dead), posts[0].title
(59, 0, 'THEKEY ICO Scam Alert!')
"""

from __future__ import annotations

from pathlib import Path

import orjson

from connectors.news.parse import NewsFormatError, post_from_feed
from schemas.news import NewsPost
from schemas.records import DeadLetter


def read_posts(path: str | Path) -> tuple[list[NewsPost], list[DeadLetter]]:
    """Posts of a JSON-lines file, sorted by publication time (ties by id), and dead letters."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"news file {path} does not exist")
    posts: dict[str, NewsPost] = {}
    dead: list[DeadLetter] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            post = post_from_feed(orjson.loads(line))
        except (orjson.JSONDecodeError, NewsFormatError) as exc:
            dead.append(
                DeadLetter(
                    source=f"news:{path.name}",
                    reason="bad_news_record",
                    detail=f"{path.name} line {number}: {exc}",
                    raw=line[:2_000],
                    occurrence=f"line {number}",
                )
            )
            continue
        posts.setdefault(post.post_id, post)  # a repost of the same id counts once
    ordered = sorted(posts.values(), key=lambda p: (p.published_at, p.post_id))
    return ordered, dead
