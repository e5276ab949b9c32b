"""The default ``quorum run`` into PostgreSQL gives the same report and store as into SQLite.

Runs wherever a PostgreSQL server answers (``QUORUM_TEST_POSTGRES_URL``, default the local
trust-auth server); skipped when none does, except in CI (``CI`` set), where it must run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.cli import main as cli_main
from tests.deploy.conftest import report_body, store_contents
from tests.postgres import fresh_schema_url

pytestmark = pytest.mark.slow


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A fresh schema on the server (its search_path), dropped afterwards; required in CI."""
    with fresh_schema_url("quorum_run", required_in_ci=True) as url:
        yield url


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
