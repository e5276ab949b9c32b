"""Service levels: feed uptime per source and symbol, ingestion → fused latency, vs targets.

Two stored sources, both per run: the SLA figures the flow's metrics measured (``runs.summary.sla``:
uptime per feed, p50/p99 latency, the targets and breaches; runs with ``metrics.port``), and the
feed tables (status transitions of live feeds), from which uptime over the whole run is
recomputed even when the metrics were off.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from sqlalchemy.engine import Engine

from connectors.prometheus.config import MetricsConfig
from connectors.store.feed_health import feed_transitions
from connectors.store.market import read_runs
from dashboards.store import require_engine
from dashboards.ui import live, utc
from operators.sla.uptime import uptime_of

TITLE = "Service levels"
ICON = ":material/speed:"
URL = "sla"
_DEFAULTS = MetricsConfig()
WHOLE_RUN_S = 10 * 365 * 86_400.0
"""The feed tables' uptime is over the whole stored run (its first report to its last)."""


def _targets(sla: dict[str, Any]) -> tuple[float, float]:
    """(uptime target, latency p99 threshold) a run was judged by (older runs: the defaults)."""
    targets = sla.get("targets", {})
    return (
        float(targets.get("feed_uptime", _DEFAULTS.sla_uptime_target)),
        float(targets.get("fused_latency_p99_s", _DEFAULTS.sla_latency_p99_s)),
    )


def sla_tables(engine: Engine) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Rows of the latency table (one per run with figures), of the uptime table (one per run
    and feed) and the breaches of the newest run that has SLA figures."""
    runs = read_runs(engine).sort("started_at", descending=True)
    latency: list[dict[str, Any]] = []
    uptime: list[dict[str, Any]] = []
    breaches: list[str] | None = None
    with engine.connect() as conn:
        for run in runs.iter_rows(named=True):
            sla = (run["summary"] or {}).get("sla") or {}
            target, threshold = _targets(sla)
            if "fused_latency_p99_s" in sla:
                latency.append(
                    {
                        "run": run["run_id"],
                        "command": run["command"],
                        "started": utc(run["started_at"]),
                        "p50 (s)": sla["fused_latency_p50_s"],
                        "p99 (s)": sla["fused_latency_p99_s"],
                        "p99 target (s)": threshold,
                        "met": sla["fused_latency_p99_s"] <= threshold,
                    }
                )
            if sla and breaches is None:
                breaches = list(sla.get("breaches", []))
            measured = sla.get("feed_uptime", {})
            stored = feed_transitions(conn, run["run_id"])
            for (source, symbol), (changes, until) in stored.items():
                from_feed = uptime_of(changes, until, WHOLE_RUN_S)
                uptime.append(
                    _uptime_row(
                        run, source, symbol, from_feed, measured.get(f"{source}/{symbol}"), target
                    )
                )
            for feed, ratio in measured.items():
                source, _, symbol = feed.partition("/")
                if (source, symbol) not in stored:
                    uptime.append(_uptime_row(run, source, symbol, None, ratio, target))
    return latency, uptime, breaches or []


def _uptime_row(
    run: dict[str, Any],
    source: str,
    symbol: str,
    from_feed: float | None,
    measured: float | None,
    target: float,
) -> dict[str, Any]:
    judged = measured if measured is not None else from_feed
    return {
        "run": run["run_id"],
        "source": source,
        "symbol": symbol,
        "uptime over the run": from_feed,
        "uptime (SLA window)": measured,
        "target": target,
        "met": None if judged is None else judged >= target,
    }


def _levels() -> None:
    engine = require_engine()
    latency, uptime, breaches = sla_tables(engine)
    if not latency and not uptime:
        st.info(
            "No service-level figures yet: live feeds store their transitions, and a run with "
            "`metrics.port` set stores its SLA figures (uptime per feed, p50/p99 ingestion → "
            "fused latency)."
        )
        return
    cols = st.columns(3)
    cols[0].metric("feeds below target", sum(row["met"] is False for row in uptime))
    if latency:
        newest = latency[0]
        cols[1].metric("fused latency p50", f"{newest['p50 (s)']:.3f} s")
        cols[2].metric(
            "fused latency p99",
            f"{newest['p99 (s)']:.3f} s",
            delta=f"target {newest['p99 target (s)']:g} s",
            delta_color="off",
        )
    for breach in breaches:
        st.warning(f"SLA breach: {breach}")
    if uptime:
        st.subheader("Feed uptime", anchor=False)
        st.dataframe(uptime, hide_index=True, width="stretch")
    if latency:
        st.subheader("Ingestion → fused signal latency", anchor=False)
        st.dataframe(latency, hide_index=True, width="stretch")


def render() -> None:
    st.title(TITLE, anchor=False)
    live(require_engine(), _levels)
