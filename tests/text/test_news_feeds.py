"""News feeds: the shipped JSON-lines file, bad lines, and the HTTP poller on loopback."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from connectors.files.shipped import DATA_DIR
from connectors.news import (
    NewsFeedError,
    NewsPoller,
    NewsPollerConfig,
    NewsPollingSource,
    read_posts,
)
from schemas.news import ScoredPost
from schemas.records import DeadLetter
from tests.text.news_server import NewsServer, api_post

TOKEN = "cp-token-do-not-leak-123456"


def test_shipped_posts_are_read_in_order_with_clean_titles():
    posts, dead = read_posts(DATA_DIR / "cryptopanic-posts_2018-01-18.jsonl")
    assert (len(posts), dead) == (59, [])
    assert [p.published_at for p in posts] == sorted(p.published_at for p in posts)
    assert posts[5].title == "NEO ($NEO) price is up 20.38%"
    basket = {"ETH", "LTC", "TRX", "XMR"}
    assert sum(bool(basket & set(p.currencies)) for p in posts) == 9


def test_bad_lines_become_dead_letters_naming_line_and_field(tmp_path: Path):
    good = {"id": 1, "published_at": "2018-01-15T02:10:16Z", "title": "ok", "currencies": ["ETH"]}
    path = tmp_path / "news.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(good),
                "{not json",
                json.dumps({**good, "id": 2, "published_at": "soon"}),
                json.dumps({**good, "id": 3, "currencies": "ETH"}),
                json.dumps(good),  # the same id again: counted once
            ]
        )
    )
    posts, dead = read_posts(path)
    assert [p.post_id for p in posts] == ["1"]
    assert [d.detail.split(":")[0] for d in dead] == [
        "news.jsonl line 2",
        "news.jsonl line 3",
        "news.jsonl line 4",
    ]
    assert "published_at" in dead[1].detail and "'soon'" in dead[1].detail
    assert "currencies: expected a list" in dead[2].detail


@pytest.fixture
def server():
    with NewsServer() as running:
        yield running


def _config(server: NewsServer, **extra) -> NewsPollerConfig:
    return NewsPollerConfig(
        base_url=server.base_url,
        auth_token_env="QUORUM_TEST_NEWS_TOKEN",
        currencies=("ETH", "XMR"),
        **extra,
    )


def test_poller_follows_pages_and_returns_each_post_once(server, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("QUORUM_TEST_NEWS_TOKEN", TOKEN)
    server.pages = [
        [api_post(3, 40, "XMR fees reduced by 41%", ["XMR"], positive=14)],
        [api_post(2, 30, "Ethereum <b>rallies</b>", ["ETH"]), {"id": 9, "title": "no date"}],
    ]
    poller = NewsPoller(_config(server))
    posts, dead = poller.poll()
    assert [(p.post_id, p.title, p.currencies) for p in posts] == [
        ("2", "Ethereum rallies", ("ETH",)),
        ("3", "XMR fees reduced by 41%", ("XMR",)),
    ]
    assert len(dead) == 1 and dead[0].reason == "bad_news_record"
    first = server.queries[0]
    assert first["auth_token"] == [TOKEN] and first["currencies"] == ["ETH,XMR"]
    assert poller.poll() == ([], [])  # nothing new: one page asked, no repeat
    server.pages[0].insert(0, api_post(4, 50, "ETH upgrade", ["ETH"]))
    assert [p.post_id for p in poller.poll()[0]] == ["4"]
    resumed = NewsPoller(_config(server), seen=poller.state())
    assert resumed.poll()[0] == []
    assert "HTTP Request" in caplog.text and TOKEN not in caplog.text  # httpx logs URLs


def test_poller_errors_name_the_endpoint_never_the_token(server, monkeypatch):
    monkeypatch.setenv("QUORUM_TEST_NEWS_TOKEN", TOKEN)
    server.status = 503
    with pytest.raises(NewsFeedError) as caught:
        NewsPoller(_config(server)).poll()
    assert "HTTP 503" in str(caught.value) and TOKEN not in str(caught.value)
    closed = NewsPollerConfig(
        base_url="http://127.0.0.1:1/api/v1", auth_token_env="QUORUM_TEST_NEWS_TOKEN"
    )
    with pytest.raises(NewsFeedError) as caught:
        NewsPoller(closed).poll()
    assert TOKEN not in str(caught.value) and TOKEN not in repr(NewsPoller(closed))


def test_polling_source_emits_scored_posts_into_a_flow(server):
    server.pages = [
        [
            api_post(
                5, 10, "Litecoin dev update: great progress", ["LTC"], positive=29, negative=1
            ),
            {"id": 6},
        ]
    ]
    flow = Dataflow("news")
    out: list = []
    source = NewsPollingSource(_config(server, poll_interval_seconds=5), max_polls=1)
    op.output("out", op.input("in", flow, source), TestingSink(out))
    run_main(flow)
    scored = [i for i in out if isinstance(i, ScoredPost)]
    assert [(s.post.post_id, s.scorer) for s in scored] == [("5", "vader+votes")]
    assert scored[0].score > 0.5
    assert [type(i) for i in out if not isinstance(i, ScoredPost)] == [DeadLetter]


def test_evaluate_caveat_counts_the_configured_posts(tmp_path: Path):
    from flows.text_evaluation import configured_posts

    root = Path(__file__).resolve().parents[2]
    assert configured_posts(root / "flows" / "profiles" / "alts-5m-news.yaml") == 59
    assert configured_posts(None) is None
    broken = tmp_path / "broken.yaml"
    broken.write_text("text: {news: [missing.jsonl]}\n")
    assert configured_posts(broken) is None
