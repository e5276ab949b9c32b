"""Venues: reconciliation findings, commands sent, routing decisions, venue fills vs paper, and
the venues' price divergences (while one stands, new entries are blocked)."""

from __future__ import annotations

import streamlit as st

from connectors.store.venue import read_venue_records
from dashboards.store import require_engine
from dashboards.ui import live

TITLE = "Venues"
ICON = ":material/swap_horiz:"
URL = "venues"


def _venues() -> None:
    engine = require_engine()
    issues = read_venue_records(engine, "reconcile")
    commands = read_venue_records(engine, "command")
    routes = read_venue_records(engine, "route")
    comparisons = read_venue_records(engine, "comparison")
    cols = st.columns(4)
    cols[0].metric("reconciliation issues", len(issues))
    cols[1].metric("commands", len(commands))
    cols[2].metric("routing decisions", len(routes))
    cols[3].metric("orders compared", len(comparisons))
    st.subheader("Reconciliation", anchor=False)
    if issues:
        st.dataframe(
            [
                {k: i[k] for k in ("ts", "venue", "kind", "order_id", "action", "detail")}
                for i in issues
            ],
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("The venues and the ledger agree: no discrepancy recorded.")
    if comparisons:
        st.subheader("Venue fills vs the paper estimate", anchor=False)
        st.dataframe(comparisons, hide_index=True, width="stretch")
    if routes:
        st.subheader("Routing decisions", anchor=False)
        st.dataframe(
            [
                {k: r[k] for k in ("ts", "order_id", "quantity", "allocations", "reason")}
                for r in routes
            ],
            hide_index=True,
            width="stretch",
        )
    divergences = read_venue_records(engine, "divergence")
    if divergences:
        st.subheader("Venues' price divergences", anchor=False)
        keys = ("ts", "symbol", "kind", "divergence_bps", "threshold_bps", "blocks_entries")
        st.dataframe(
            [{k: d[k] for k in (*keys, "detail")} for d in divergences],
            hide_index=True,
            width="stretch",
        )
    if commands:
        st.subheader("Commands", anchor=False)
        keys = ("ts", "venue", "kind", "order_id", "asset", "side", "quantity", "dry_run")
        st.dataframe([{k: c[k] for k in keys} for c in commands], hide_index=True, width="stretch")


def render() -> None:
    st.title("Venues", anchor=False)
    live(require_engine(), _venues)
