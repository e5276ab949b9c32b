"""News feeds for the text signal source: JSON-lines replay and a CryptoPanic-style HTTP poller."""

from connectors.news.config import NewsPollerConfig
from connectors.news.files import read_posts
from connectors.news.parse import NewsFormatError, post_from_feed
from connectors.news.poller import NewsFeedError, NewsPoller
from connectors.news.source import NewsPollingSource

__all__ = [
    "NewsFeedError",
    "NewsFormatError",
    "NewsPoller",
    "NewsPollerConfig",
    "NewsPollingSource",
    "post_from_feed",
    "read_posts",
]
