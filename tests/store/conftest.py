"""Store fixtures: a SQLite file per test and, when reachable, a private PostgreSQL schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

import connectors
from connectors.store.engine import open_store
from schemas.batches import CandleBatch

POSTGRES_URL = os.environ.get(
    "QUORUM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
"""Local test server (trust auth). Each test gets its own schema, dropped afterwards."""

BTC_PERP = Path(connectors.__file__).parent / "data" / "btc-perp_1m_2022-01.parquet"


def _postgres_admin() -> Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'quorum[postgres]')")
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        engine.dispose()
        shown = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        pytest.skip(f"PostgreSQL is not reachable at {shown}: {exc.orig}")
    return engine


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh schema on the local server (its search_path), dropped after the test."""
    admin = _postgres_admin()
    schema = f"quorum_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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
