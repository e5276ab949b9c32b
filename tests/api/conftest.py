"""API fixtures: a store made by the real flow from shipped data, copied for every test.

The replay runs once per session (into the session's temporary directory, where the
dashboard tests find and reuse it); each test gets its own copy, so writes never leak.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

import connectors
from api.app import create_app
from api.keys import create_key
from api.settings import ApiSettings
from connectors.store.engine import open_store

DATA = Path(connectors.__file__).parent / "data" / "btc-perp_1m_2022-01.parquet"
PENDING_REVIEWS = {"trading": {"review_policy": "queue", "review_ttl_seconds": 60 * 86_400}}
"""As a live desk leaves it: REVIEW decisions queued for a person, none expired yet."""
NOW = datetime(2022, 2, 1, 7, 0, tzinfo=UTC)
"""The tests' wall clock: an hour after the data set ends."""


def replayed_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
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


def copy_store(source: Path, target: Path) -> Path:
    """A consistent copy of a SQLite store (the backup API, WAL included)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


@pytest.fixture(scope="session")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replayed_store(tmp_path_factory)


@pytest.fixture
def engine(replayed: Path, tmp_path: Path) -> Iterator[Engine]:
    engine = open_store(copy_store(replayed, tmp_path / "store.sqlite"))
    try:
        yield engine
    finally:
        engine.dispose()


class ManualClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_client(engine: Engine, clock: ManualClock) -> Callable[..., TestClient]:
    """``make_client(**settings)``: a test client over the test's store copy."""

    def build(**overrides: object) -> TestClient:
        settings = ApiSettings(monotonic=clock, now=lambda: NOW, **overrides)  # type: ignore[arg-type]
        return TestClient(create_app(settings, engine=engine))

    return build


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def keys(engine: Engine) -> dict[str, str]:
    """Headers-ready keys: a reader, a reviewer (review + signals:read) and an admin."""
    return {
        "reader": create_key(engine, "reader app", ["signals:read"]).key,
        "reviewer": create_key(engine, "ana", ["review", "signals:read"]).key,
        "admin": create_key(engine, "ops", ["admin"]).key,
    }


@pytest.fixture
def headers(keys: dict[str, str]) -> Callable[[str], dict[str, str]]:
    def of(role: str) -> dict[str, str]:
        return {"X-API-Key": keys[role]}

    return of


@pytest.fixture
def now() -> datetime:
    """What the app's wall clock says during a test."""
    return NOW
