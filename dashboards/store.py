"""The dashboard's connection to the store: one engine per store URL, kept across reruns."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from sqlalchemy.engine import Engine

from connectors.store.engine import open_store, url_for
from dashboards.config import current


class StoreMissingError(FileNotFoundError):
    """The configured SQLite store does not exist (the dashboard never creates one)."""


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL (``None`` for other databases and in-memory SQLite).

    >>> sqlite_file("sqlite:///out/q.sqlite"), sqlite_file("postgresql+psycopg://db/q")
    (PosixPath('out/q.sqlite'), None)
    """
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///"))
    return None


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return open_store(url)


def engine() -> Engine:
    """The engine of the configured store; :class:`StoreMissingError` if its file is absent."""
    url = url_for(current().store)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise StoreMissingError(f"no store at {path}")
    return _engine(url)


def require_engine() -> Engine:
    """The engine, or an explanation on the page and a stop when there is no store."""
    try:
        return engine()
    except StoreMissingError as exc:
        missing = str(exc)
    st.error(
        f"{missing}. Run the flow first (e.g. `quorum run …`), or point the dashboard at a "
        "store with `quorum dashboard --store PATH` or `QUORUM_STORE`."
    )
    st.stop()  # ends this script run (NoReturn)
