"""Dashboard fixtures: the real flow's store (one replay per session, shared with the API
tests through the session's temporary directory), copied per test; the store URL handed to
the pages through ``QUORUM_STORE``, as ``quorum dashboard`` does."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st

import connectors

DATA = Path(connectors.__file__).parent / "data" / "btc-perp_1m_2022-01.parquet"
PENDING_REVIEWS = {"trading": {"review_policy": "queue", "review_ttl_seconds": 60 * 86_400}}
"""As a live desk leaves it: REVIEW decisions queued for a person, none expired yet."""


@pytest.fixture(scope="session")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped BTC perpetual month replayed through the flow, once per session."""
    from flows.config import load_config
    from flows.runner import run_replay

    path = tmp_path_factory.getbasetemp() / "replayed-btc-perp" / "store.sqlite"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name("partial.sqlite")
        config = load_config(overrides=PENDING_REVIEWS)
        run_replay([DATA], config=config, store_url=str(partial), stage="full", progress=False)
        partial.rename(path)
    return path


@pytest.fixture
def store(replayed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the replayed store, configured as the dashboard's store."""
    target = tmp_path / "store.sqlite"
    with sqlite3.connect(replayed) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    monkeypatch.setenv("QUORUM_STORE", str(target))
    monkeypatch.delenv("QUORUM_REPORT", raising=False)
    yield target
    st.cache_resource.clear()  # dispose of this test's engine with its store
