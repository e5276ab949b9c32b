"""Fusion breakdown: how each source moved one fused score, and why the decision fell."""

from __future__ import annotations

import polars as pl
import streamlit as st

from api.reads.signals import FusedFilter, fused_detail, fused_page, latest_fused
from dashboards.charts import CONTRIBUTION_ROW_PX, contribution_chart
from dashboards.store import require_engine
from dashboards.ui import decision_badge, utc
from schemas.signals import Decision

TITLE = "Fusion"
ICON = ":material/merge:"
URL = "fusion"


def render() -> None:
    st.title("Fusion breakdown", anchor=False)
    engine = require_engine()
    with engine.connect() as conn:
        latest = latest_fused(conn)
        assets = [s.asset for s in latest]
    if not assets:
        st.info("No fused signals in the store yet.")
        return
    left, right = st.columns(2)
    asset = left.selectbox("Asset", assets, key="fusion_asset")
    bands = right.multiselect(
        "Decisions",
        [d.value for d in Decision],
        default=[d.value for d in Decision],
        key="fusion_bands",
    )
    with engine.connect() as conn:
        page = fused_page(
            conn,
            FusedFilter(asset=asset, decisions=tuple(Decision(b) for b in bands)),
            limit=200,
        )
    if not page.items:
        st.info("No fused signal of these decisions for this asset.")
        return
    labels = {
        s.fused_id: f"{utc(s.timestamp)} · {s.decision.value.upper()} · {s.score:+.3f}"
        for s in page.items
    }
    chosen = st.selectbox(
        "Fused signal (newest first)", list(labels), format_func=labels.get, key="fusion_id"
    )
    with engine.connect() as conn:
        detail = fused_detail(conn, chosen)
    if detail is None:  # removed between the two reads
        st.warning(f"{chosen} is no longer in the store.")
        return
    cols = st.columns(4)
    cols[0].markdown(f"### {decision_badge(detail.decision.value)}")
    cols[1].metric("score", f"{detail.score:+.3f}")
    cols[2].metric("consensus", f"{detail.consensus:+.3f}")
    cols[3].metric("sources", len(detail.contributions))
    if detail.contributions:
        frame = pl.DataFrame(
            [
                {
                    "source": f"{c.origin}@{c.timeframe.value}",
                    "direction": c.direction.value,
                    "confidence": c.confidence,
                    "weight": c.weight,
                    "share": c.share,
                }
                for c in detail.contributions
            ]
        )
        st.altair_chart(
            contribution_chart(frame),
            width="stretch",
            height=60 + CONTRIBUTION_ROW_PX * frame.height,
        )
        total = frame["share"].sum()
        st.caption(f"Σ shares = {total:+.4f} = the fused score {detail.score:+.4f}")
        st.dataframe(frame, hide_index=True, width="stretch")
    if detail.timeframe_scores:
        st.write("Score per timeframe")
        st.dataframe(
            [{"timeframe": k, "score": v} for k, v in detail.timeframe_scores.items()],
            hide_index=True,
        )
    st.write("Reasons")
    for reason in detail.reasons:
        st.markdown(f"- {reason}")
    if detail.review is not None:
        st.info(
            f"Review: {detail.review.status}"
            + (
                f" by {detail.review.reviewer}: {detail.review.comment}"
                if detail.review.reviewer
                else ""
            )
        )
