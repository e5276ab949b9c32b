"""Review queue: REVIEW-band signals waiting for a person; approve or reject, audited.

Decisions go through :func:`api.reviews.decide`, exactly as the API's: the queue update and
a ``review_decision`` audit record in one transaction. The reviewer is the signed-in person
(:mod:`dashboards.auth`) and needs the ``review`` scope; without it the queue is read-only.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st
from pydantic import ValidationError

from api.keys import ApiKey, Scope
from api.models import ReviewDecisionIn, ReviewItem
from api.reads.signals import fused_detail, review_page
from api.reviews import AlreadyDecidedError, ConcurrentWriteError, NotQueuedError, decide
from connectors.store.llm import LlmStore
from dashboards.auth import sign_in_panel, via
from dashboards.store import require_engine
from dashboards.ui import utc
from flows.explain import explain_one
from operators.explain.explainer import Explainer

TITLE = "Reviews"
ICON = ":material/rate_review:"
URL = "reviews"


def _label(item: ReviewItem) -> str:
    return f"{utc(item.timestamp)} · {item.asset} · {item.direction.value} · {item.score:+.3f}"


def _decide(item: ReviewItem, decision: str, reviewer: ApiKey, comment: str) -> None:
    try:
        body = ReviewDecisionIn(decision=decision, comment=comment)
    except ValidationError as exc:
        st.error("; ".join(e["msg"] for e in exc.errors()))
        return
    try:
        outcome = decide(
            require_engine(),
            item.fused_id,
            body.decision,
            reviewer=reviewer.owner,
            comment=body.comment,
            now=datetime.now(UTC),
            via=via(reviewer),
        )
    except (NotQueuedError, AlreadyDecidedError, ConcurrentWriteError) as exc:
        st.error(str(exc))
        return
    record = outcome.audit
    st.session_state["review_flash"] = (
        f"{record.payload['decision']} {item.fused_id} (audit record {record.seq})"
    )
    st.rerun()


def _show_explanation(fused_id: str) -> None:
    """The decision's explanation (stored by the explanation job, else the template's)."""
    explanation = LlmStore(require_engine()).explanation(fused_id)
    if explanation is None:
        explanation = explain_one(require_engine(), Explainer(), fused_id)
    if explanation is None:
        return
    st.markdown(f"**Explanation** ({explanation.explainer}): {explanation.summary}")
    for point in explanation.points:
        st.markdown(f"- {point}")
    if explanation.fallback_reason:
        st.caption(f"template used because the model failed: {explanation.fallback_reason}")


def render() -> None:
    st.title("Review queue", anchor=False)
    engine = require_engine()
    if flash := st.session_state.pop("review_flash", None):
        st.success(flash)
    with engine.connect() as conn:
        pending = review_page(conn, status="pending", limit=200).items
        approved = review_page(conn, status="approved", limit=50).items
        rejected = review_page(conn, status="rejected", limit=50).items
    st.caption(f"{len(pending)} pending · {len(approved)} approved · {len(rejected)} rejected")
    reviewer = sign_in_panel(engine)
    if not pending:
        st.info("Nothing waits for review.")
    else:
        choices = {item.fused_id: item for item in pending}
        chosen = st.selectbox(
            "Pending signal (oldest first)",
            list(choices),
            format_func=lambda fid: _label(choices[fid]),
            key="review_choice",
        )
        item = choices[chosen]
        with engine.connect() as conn:
            detail = fused_detail(conn, chosen)
        with st.container(border=True):
            st.markdown(f"**{item.asset}** {item.direction.value}, score **{item.score:+.3f}**")
            for reason in item.reasons:
                st.markdown(f"- {reason}")
            if detail is not None and detail.contributions:
                st.dataframe(
                    [
                        {
                            "source": f"{c.origin}@{c.timeframe.value}",
                            "direction": c.direction.value,
                            "confidence": c.confidence,
                            "share": c.share,
                        }
                        for c in detail.contributions
                    ],
                    hide_index=True,
                )
            _show_explanation(chosen)
        if reviewer is None or not reviewer.allows(Scope.REVIEW):
            st.info("Read-only: sign in with an API key that has the `review` scope to decide.")
        else:
            with st.form("decision", clear_on_submit=True):
                comment = st.text_area("Comment", max_chars=2000, key="review_comment")
                approve_col, reject_col = st.columns(2)
                approve = approve_col.form_submit_button("Approve", type="primary")
                reject = reject_col.form_submit_button("Reject")
            if approve or reject:
                _decide(item, "approve" if approve else "reject", reviewer, comment)
    decided = sorted(approved + rejected, key=lambda i: i.decided_at or i.timestamp, reverse=True)
    if decided:
        st.subheader("Decided", anchor=False)
        st.dataframe(
            [
                {
                    "decided (UTC)": i.decided_at,
                    "status": i.status,
                    "reviewer": i.reviewer,
                    "comment": i.comment,
                    "asset": i.asset,
                    "score": i.score,
                    "fused_id": i.fused_id,
                }
                for i in decided
            ],
            hide_index=True,
            width="stretch",
        )
