"""The default ``quorum run`` into PostgreSQL gives the same report and store as into SQLite.

Runs wherever a PostgreSQL server answers (``QUORUM_TEST_POSTGRES_URL``, default the local
trust-auth server); skipped when none does, except in CI (``CI`` set), where it must run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from flows.cli import main as cli_main
from tests.deploy.conftest import report_body, store_contents

pytestmark = pytest.mark.slow

POSTGRES_URL = os.environ.get(
    "QUORUM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A fresh schema on the server (its search_path), dropped afterwards."""
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.connect():
            pass
    except OperationalError as exc:
        admin.dispose()
        shown = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests, but {shown} does not answer: {exc}")
        pytest.skip(f"PostgreSQL is not reachable at {shown}: {exc.orig}")
    schema = f"quorum_run_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _run(store: str, out: Path, name: str) -> Path:
    report = out / f"{name}.json"
    args = ["run", "--quiet", "--store", store, "--report", str(report)]
    assert cli_main([*args, "--plot", str(out / f"{name}.png")]) == 0
    return report


def test_the_default_run_into_postgresql_equals_sqlite(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    on_sqlite = _run(str(tmp_path / "quorum.sqlite"), tmp_path, "sqlite")
    on_postgres = _run(postgres_schema_url, tmp_path, "postgresql")
    assert report_body(on_postgres) == report_body(on_sqlite)
    assert report_body(on_postgres)["fills"] == 22
    assert cli_main(["audit", "verify", "--store", postgres_schema_url]) == 0
    sqlite_tables = store_contents(str(tmp_path / "quorum.sqlite"))
    postgres_tables = store_contents(postgres_schema_url)
    for table in ("orders", "fills", "positions", "risk_decisions", "review_tickets"):
        assert postgres_tables[table] == sqlite_tables[table], table
