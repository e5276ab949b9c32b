"""Engine, shared metadata and dialect-aware idempotent upserts (SQLite and PostgreSQL)."""

from __future__ import annotations

import importlib
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, Table, create_engine, event, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

metadata = MetaData()
"""All of Quorum's tables. Domain modules register theirs on import."""

TABLE_MODULES: tuple[str, ...] = (
    "connectors.store.market",
    "connectors.store.signals",
    "connectors.store.trading",
    "connectors.store.audit",
    "connectors.store.feed_health",
    "connectors.store.venue",
    "connectors.store.billing",
    "connectors.store.llm",
    "connectors.store.control",
    "connectors.store.run_shares",
)
"""Modules that declare tables; imported by :func:`open_store` (missing ones are skipped)."""

DEFAULT_URL = "sqlite:///quorum.sqlite"


class StoreSchemaError(RuntimeError):
    """A store written by an older Quorum whose tables cannot be brought up to date in place."""


_SCHEMA_CHECKS: list[Callable[[Engine], None]] = []


def register_schema_check(check: Callable[[Engine], None]) -> None:
    """Run ``check(engine)`` whenever a store is opened (after its tables are created); it
    raises :class:`StoreSchemaError` naming what is wrong and what to do."""
    if check not in _SCHEMA_CHECKS:
        _SCHEMA_CHECKS.append(check)


def _load_table_modules() -> None:
    for name in TABLE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a domain not built yet
            if exc.name != name:
                raise


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_WAL_ATTEMPTS = 20


def switch_to_wal(cursor: Any, *, pause_s: float = 0.02) -> None:
    """Put the SQLite file in WAL mode. Switching needs the file to itself for a moment, and
    when another process opening the same new store (a cluster's processes, at the same
    moment) is switching it too, SQLite answers "database is locked" at once, without waiting
    out the busy timeout: try again after a growing pause (about 4 s in all), then give up.

    >>> import sqlite3
    >>> switch_to_wal(sqlite3.connect(":memory:").cursor())  # (memory stays "memory")
    """
    for attempt in range(_WAL_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == _WAL_ATTEMPTS - 1:
                raise
            time.sleep(pause_s * (attempt + 1))


def url_for(path_or_url: str | Path) -> str:
    """Accept a SQLAlchemy URL or a plain file path (→ SQLite).

    >>> url_for("out/q.sqlite")
    'sqlite:///out/q.sqlite'
    >>> url_for("postgresql+psycopg://localhost/test")
    'postgresql+psycopg://localhost/test'
    """
    text = str(path_or_url)
    return text if "://" in text else f"sqlite:///{text}"


def open_store(path_or_url: str | Path = DEFAULT_URL, *, create: bool = True) -> Engine:
    """Open (and by default create) the store; SQLite files get WAL mode.

    >>> engine = open_store("sqlite://")
    >>> engine.dialect.name
    'sqlite'
    """
    url = url_for(path_or_url)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if create:
        _load_table_modules()
        _create_tables(engine)
        _add_new_columns(engine)
        _upgrade_keys(engine)
        for check in _SCHEMA_CHECKS:
            check(engine)
    return engine


_CREATE_ATTEMPTS = 5


def _create_tables(engine: Engine) -> None:
    """Create missing tables; the processes of a cluster open one store at the same moment.

    Two processes may both find a table missing and both create it: the loser's ``CREATE``
    fails with "already exists", and the next attempt finds the table.
    """
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            metadata.create_all(engine)
            return
        except DBAPIError as exc:
            if attempt == _CREATE_ATTEMPTS - 1 or "already exists" not in str(exc.orig).lower():
                raise


def _add_new_columns(engine: Engine) -> None:
    """Add the nullable columns a newer Quorum declares to tables of an older store.

    ``create_all`` creates missing tables only; a store written before a column existed would
    otherwise fail on its first query. Only nullable columns are ever added this way.
    """
    inspector = inspect(engine)
    existing_tables = set(inspector.get_table_names())
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if table.name not in existing_tables:
                continue
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present and column.nullable:
                    kind = column.type.compile(dialect=engine.dialect)
                    conn.exec_driver_sql(
                        f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'
                    )


def _upgrade_keys(engine: Engine) -> None:
    """Keys a newer Quorum widened (see :mod:`connectors.store.upgrades`)."""
    from connectors.store.upgrades import upgrade_judged_keys

    upgrade_judged_keys(engine)


def upsert(
    engine_or_conn: Any,
    table: Table,
    rows: Sequence[Mapping[str, Any]] | Iterable[Mapping[str, Any]],
    keys: Sequence[str],
    *,
    update: bool = True,
) -> int:
    """Insert rows; on a key conflict update the other columns (or do nothing).

    Idempotent: writing the same rows twice leaves one copy. Works on SQLite and PostgreSQL.
    Returns the number of rows sent.
    """
    rows = list(rows)
    if not rows:
        return 0
    dialect = engine_or_conn.dialect.name
    if dialect == "sqlite":
        stmt = sqlite.insert(table)
    elif dialect == "postgresql":
        stmt = postgresql.insert(table)
    else:  # pragma: no cover - guarded for clarity
        raise ValueError(f"unsupported database dialect {dialect!r}; use sqlite or postgresql")
    columns = [c for c in rows[0] if c not in keys]
    if update and columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.begin() as conn:
            conn.execute(stmt, rows)
    else:
        engine_or_conn.execute(stmt, rows)
    return len(rows)
