"""What ``quorum evaluate`` adds about the text source: how little evidence it has.

The text source is evaluated like every source (hit rate, forward return, Brier, reliability
curve: its rows appear as ``text:sentiment@<timeframe>``); this note states how many posts and
signals the figures rest on, so a reader does not take a handful of headlines for evidence.

>>> import polars as pl
>>> frame = pl.DataFrame({"origin": ["text:sentiment", "text:sentiment", "rules:x"],
...                       "meta": [{"post_id": "1"}, {"post_id": "2"}, {}]})
>>> print(text_caveat(frame, posts=59))
text source: 2 signals from 59 posts. 59 posts demonstrate the path (news → sentiment →
fusion → evaluation); they prove nothing about an edge: judge it on thousands of posts over
months.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

TEXT_PREFIX = "text:"


def text_caveat(signals: pl.DataFrame, *, posts: int | None = None) -> str | None:
    """A one-paragraph caveat when the store holds text signals, else ``None``."""
    if signals.is_empty() or "origin" not in signals.columns:
        return None
    count = signals.filter(pl.col("origin").str.starts_with(TEXT_PREFIX)).height
    if count == 0:
        return None
    basis = f"{posts} posts" if posts is not None else "the replayed posts"
    return (
        f"text source: {count} signals from {basis}. {basis.capitalize()} demonstrate the path "
        "(news → sentiment → fusion → evaluation); they prove nothing about an edge: judge it "
        "on thousands of posts over months."
    )


def configured_posts(config_path: Path | None) -> int | None:
    """How many posts the configuration's news files hold (None: no text source or no config)."""
    from connectors.news.files import read_posts
    from flows.config import ConfigError, load_config

    try:
        config = load_config(config_path)
    except ConfigError:
        return None
    if not config.text.enabled:
        return None
    ids = {p.post_id for path in config.text.news for p in read_posts(path)[0]}
    return len(ids)
