"""Small display helpers shared by the pages: decision badges, live refresh, tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import streamlit as st
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from api.reads.ops import running_runs
from dashboards.config import current

DECISION_BADGE = {"open": ":green-badge[OPEN]", "review": ":orange-badge[REVIEW]"}


def decision_badge(decision: str) -> str:
    """Markdown badge of a decision band.

    >>> decision_badge("open"), decision_badge("ignore")
    (':green-badge[OPEN]', ':gray-badge[IGNORE]')
    """
    return DECISION_BADGE.get(decision, f":gray-badge[{decision.upper()}]")


def plain(value: Any) -> Any:
    """A value as a table cell: Decimals as floats, enums as their value, times kept.

    >>> plain(Decimal("1.50")), plain(None)
    (1.5, None)
    """
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (dict, list)):
        return str(value)
    return value


def rows(models: Iterable[BaseModel], columns: Iterable[str] | None = None) -> list[dict]:
    """Records as table rows (see :func:`plain`), optionally only some columns.

    >>> from schemas.records import DeadLetter
    >>> rows([DeadLetter(source="s", reason="r", detail="d", raw="x")], ["reason", "raw"])
    [{'reason': 'r', 'raw': 'x'}]
    """
    wanted = list(columns) if columns is not None else None
    out = []
    for model in models:
        data: Mapping[str, Any] = {name: getattr(model, name) for name in type(model).model_fields}
        names = wanted if wanted is not None else list(data)
        out.append({name: plain(data[name]) for name in names})
    return out


def utc(value: datetime | None) -> str:
    """A time as 'YYYY-MM-DD HH:MM UTC'.

    >>> from datetime import UTC
    >>> utc(datetime(2022, 1, 3, 4, 5, tzinfo=UTC)), utc(None)
    ('2022-01-03 04:05 UTC', '–')
    """
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def live(engine: Engine, render: Callable[[], None]) -> None:
    """Run ``render`` in a fragment that refreshes itself while a flow is running.

    A run counts as running from ``start_run`` until ``finish_run`` (the ``runs`` table). A
    small sidebar watcher polls that state and reruns the page when a run starts or ends, so
    a page opened before the flow starts begins refreshing by itself; the sidebar toggle keeps
    refreshing on regardless.
    """
    interval = current().refresh_seconds
    running = _running(engine)

    def watch() -> None:
        now_running = _running(engine)
        if now_running != running:
            st.rerun()
        if now_running:
            st.caption(f"Flow running: {', '.join(now_running)} (refreshing every {interval:g} s)")

    keep = st.sidebar.toggle(
        "Keep refreshing", key="keep_refreshing", help=f"Reload this page every {interval:g} s"
    )
    with st.sidebar:
        st.fragment(watch, run_every=interval)()
    st.fragment(render, run_every=interval if (running or keep) else None)()


def _running(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return running_runs(conn)
