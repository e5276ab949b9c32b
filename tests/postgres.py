"""The local PostgreSQL test server, and a private schema per test on it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

POSTGRES_URL = os.environ.get(
    "QUORUM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
"""Local test server (trust auth). Each test gets its own schema, dropped afterwards."""


def postgres_admin(required_in_ci: bool = False) -> Engine:
    """An engine on the server; skips the test when none answers (fails in CI if required)."""
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
        if required_in_ci and os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests, but {shown} does not answer: {exc}")
        pytest.skip(f"PostgreSQL is not reachable at {shown}: {exc.orig}")
    return engine


@contextmanager
def fresh_schema_url(prefix: str, required_in_ci: bool = False) -> Iterator[str]:
    """URL of a new schema (its search_path) on the server, dropped on exit."""
    admin = postgres_admin(required_in_ci)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
