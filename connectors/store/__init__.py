"""Embedded store (SQLite in WAL mode by default, PostgreSQL in production) via SQLAlchemy Core.

Every domain owns a module here declaring its tables on the shared :data:`metadata`;
:func:`connectors.store.engine.open_store` creates them all.
"""
