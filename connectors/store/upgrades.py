"""Upgrades of an older store's keys, applied when it is opened (after new nullable columns).

A store written before dead letters and quality flags carried their ``occurrence`` merged two
identical bad rows into one (their key was ``(run_id, source, reason, raw_hash)``). Opening it
with this Quorum adds the column (``''`` for the rows already there) and widens the key to
:data:`~connectors.store.market.JUDGED_KEY`, keeping every row and its id. SQLite cannot drop a
table constraint, so the table is rebuilt in one ``BEGIN IMMEDIATE`` transaction; PostgreSQL
swaps the constraint under a table lock. Both re-check under the lock, so the processes of a
cluster opening one old store at the same moment upgrade it once.

>>> from sqlalchemy import create_engine, inspect
>>> engine = create_engine("sqlite://")
>>> with engine.begin() as conn:
...     _ = conn.exec_driver_sql(
...         "CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, run_id TEXT, source TEXT, "
...         "symbol TEXT, reason TEXT, detail TEXT, raw TEXT, raw_hash TEXT, ts BIGINT, "
...         "recorded_at BIGINT, CONSTRAINT uq_dead_letters_dedupe "
...         "UNIQUE (run_id, source, reason, raw_hash))")
>>> upgrade_judged_keys(engine)
['dead_letters']
>>> [c["name"] for c in inspect(engine).get_unique_constraints("dead_letters")]
['uq_dead_letters_occurrence']
>>> upgrade_judged_keys(engine)
[]
"""

from __future__ import annotations

from sqlalchemy import Table, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateTable

from connectors.store.market import JUDGED_KEY, dead_letters, quality_flags

_JUDGED_TABLES: tuple[Table, ...] = (dead_letters, quality_flags)


def _new_key_name(table: Table) -> str:
    return f"uq_{table.name}_occurrence"


def _needs_upgrade(engine: Engine, table: Table) -> bool:
    inspector = inspect(engine)
    if table.name not in inspector.get_table_names():
        return False
    names = {c["name"] for c in inspector.get_unique_constraints(table.name)}
    return _new_key_name(table) not in names


def upgrade_judged_keys(engine: Engine) -> list[str]:
    """Widen the key of the judged-record tables of an older store; the tables upgraded."""
    upgraded = []
    for table in _JUDGED_TABLES:
        if not _needs_upgrade(engine, table):
            continue
        if engine.dialect.name == "sqlite":
            done = _rebuild_sqlite(engine, table)
        else:
            done = _swap_postgres_key(engine, table)
        if done:
            upgraded.append(table.name)
    return upgraded


def _rebuild_sqlite(engine: Engine, table: Table) -> bool:
    old = f"{table.name}_before_occurrence"
    create = str(CreateTable(table).compile(dialect=engine.dialect))
    with engine.connect() as conn:
        dbapi = conn.connection.driver_connection
        previous = dbapi.isolation_level
        dbapi.isolation_level = None  # our own BEGIN IMMEDIATE: one process upgrades
        try:
            dbapi.execute("BEGIN IMMEDIATE")
            sql = dbapi.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,)
            ).fetchone()[0]
            if _new_key_name(table) in sql:  # another process was first
                dbapi.execute("COMMIT")
                return False
            present = [row[1] for row in dbapi.execute(f'PRAGMA table_info("{table.name}")')]
            kept = ", ".join(f'"{c}"' for c in present if c in table.c)
            dbapi.execute(f'ALTER TABLE "{table.name}" RENAME TO "{old}"')
            dbapi.execute(create)
            dbapi.execute(f'INSERT INTO "{table.name}" ({kept}) SELECT {kept} FROM "{old}"')
            dbapi.execute(f'DROP TABLE "{old}"')
            dbapi.execute("COMMIT")
        except BaseException:
            if dbapi.in_transaction:
                dbapi.execute("ROLLBACK")
            raise
        finally:
            dbapi.isolation_level = previous
    return True


def _swap_postgres_key(engine: Engine, table: Table) -> bool:
    name, key = table.name, _new_key_name(table)
    columns = ", ".join(f'"{c}"' for c in JUDGED_KEY)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'LOCK TABLE "{name}" IN ACCESS EXCLUSIVE MODE')
        if key in {c["name"] for c in inspect(conn).get_unique_constraints(name)}:
            return False
        conn.exec_driver_sql(
            f'ALTER TABLE "{name}" ADD COLUMN IF NOT EXISTS "occurrence" '
            "VARCHAR(160) NOT NULL DEFAULT ''"
        )
        conn.exec_driver_sql(f'ALTER TABLE "{name}" DROP CONSTRAINT IF EXISTS "uq_{name}_dedupe"')
        conn.exec_driver_sql(f'ALTER TABLE "{name}" ADD CONSTRAINT "{key}" UNIQUE ({columns})')
    return True
