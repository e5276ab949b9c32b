"""Live signals board: per asset, the latest fused score, its decision and its sources."""

from __future__ import annotations

import polars as pl
import streamlit as st

from api.models import FusedSignalOut
from api.reads.ops import review_counts
from api.reads.signals import FusedFilter, fused_page, latest_fused
from dashboards.store import require_engine
from dashboards.ui import decision_badge, live, utc
from schemas.signals import Decision

TITLE = "Signals"
ICON = ":material/monitoring:"
URL = "signals"


def _sources(signal: FusedSignalOut) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "source": f"{c.origin}@{c.timeframe.value}",
                "direction": c.direction.value,
                "confidence": c.confidence,
                "weight": c.weight,
                "share": c.share,
            }
            for c in sorted(signal.contributions, key=lambda c: -abs(c.share))
        ],
        schema={
            "source": pl.String,
            "direction": pl.String,
            "confidence": pl.Float64,
            "weight": pl.Float64,
            "share": pl.Float64,
        },
    )


def _asset_card(signal: FusedSignalOut) -> None:
    with st.container(border=True):
        left, middle, right = st.columns([2, 1, 1])
        left.subheader(signal.asset, anchor=False)
        left.markdown(f"{decision_badge(signal.decision.value)} {signal.direction.value}")
        left.caption(f"as of {utc(signal.timestamp)} · {signal.fused_id}")
        middle.metric("fused score", f"{signal.score:+.3f}")
        right.metric("consensus", f"{signal.consensus:+.3f}")
        if signal.veto:
            st.warning(f"veto: {signal.veto}")
        st.dataframe(
            _sources(signal),
            hide_index=True,
            width="stretch",
            column_config={
                "confidence": st.column_config.NumberColumn(format="%.2f"),
                "weight": st.column_config.NumberColumn(format="%.2f"),
                "share": st.column_config.NumberColumn(format="%+.4f"),
            },
        )


def _board() -> None:
    engine = require_engine()
    with engine.connect() as conn:
        latest = latest_fused(conn)
        pending = review_counts(conn).get("pending", 0)
        recent = fused_page(
            conn, FusedFilter(decisions=(Decision.OPEN, Decision.REVIEW)), limit=20
        ).items
    if not latest:
        st.info("No fused signals in the store yet. They appear here as the flow makes them.")
        return
    if pending:
        st.info(f"{pending} signal(s) waiting for review: see the Reviews page.")
    for signal in latest:
        _asset_card(signal)
    st.subheader("Recent OPEN and REVIEW decisions", anchor=False)
    st.dataframe(
        [
            {
                "time (UTC)": s.timestamp,
                "asset": s.asset,
                "decision": s.decision.value.upper(),
                "direction": s.direction.value,
                "score": s.score,
                "sources": len(s.contributions),
                "fused_id": s.fused_id,
            }
            for s in recent
        ],
        hide_index=True,
        width="stretch",
        column_config={"score": st.column_config.NumberColumn(format="%+.3f")},
    )


def render() -> None:
    st.title("Live signals", anchor=False)
    live(require_engine(), _board)
