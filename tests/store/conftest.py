"""Store fixtures: a SQLite file per test and, when reachable, a private PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine

import connectors
from connectors.store.engine import open_store
from schemas.batches import CandleBatch
from tests.postgres import fresh_schema_url

BTC_PERP = Path(connectors.__file__).parent / "data" / "btc-perp_1m_2022-01.parquet"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh schema on the local server (its search_path), dropped after the test."""
    with fresh_schema_url("quorum_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The same store on SQLite (a WAL file) and on PostgreSQL (skipped when absent)."""
    if request.param == "sqlite":
        engine = open_store(tmp_path / "store.sqlite")
    else:
        engine = open_store(request.getfixturevalue("postgres_url"))
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def btc_batch() -> CandleBatch:
    """The first 3,000 real BTC perpetual 1-minute bars as one CandleBatch."""
    frame = pl.read_parquet(BTC_PERP).head(3000)
    return CandleBatch.from_columns(
        "BTC-PERP",
        "1m",
        frame["ts"].dt.epoch("ns").to_numpy(),
        frame["open"].to_numpy(),
        frame["high"].to_numpy(),
        frame["low"].to_numpy(),
        frame["close"].to_numpy(),
        frame["volume"].to_numpy(),
        trades=np.arange(len(frame)) % 50,
    )
