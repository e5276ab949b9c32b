"""Audit log explorer: browse the hash chain by kind, inspect a record, verify the chain."""

from __future__ import annotations

import json

import streamlit as st

from api.reads.audit import audit_kinds, audit_page
from connectors.audit.config import AuditTrust
from connectors.store.audit import read_head, verify_store
from dashboards.store import require_engine
from operators.audit.chain import KeyRequiredError

TITLE = "Audit log"
ICON = ":material/verified_user:"
URL = "audit"
PAGE_SIZE = 200


def render() -> None:
    st.title("Audit log", anchor=False)
    engine = require_engine()
    head = read_head(engine)
    left, right = st.columns([3, 1])
    left.caption("empty chain" if head is None else f"{head[0] + 1} records · head {head[1][:16]}…")
    if right.button("Verify chain", key="audit_verify"):
        try:
            result = verify_store(engine, AuditTrust.for_engine(engine))
        except KeyRequiredError as exc:
            st.error(str(exc))
        else:
            (st.success if result.ok else st.error)(result.message)
            for note in result.notes:
                st.caption(note)
    with engine.connect() as conn:
        kinds = audit_kinds(conn)
    if not kinds:
        st.info("No audit records yet.")
        return
    kind_col, seq_col = st.columns(2)
    kind = kind_col.selectbox("Kind", ["(all)", *kinds], key="audit_kind")
    after = seq_col.number_input(
        "After seq", min_value=-1, value=-1, step=PAGE_SIZE, key="audit_after"
    )
    with engine.connect() as conn:
        page = audit_page(
            conn,
            after_seq=int(after),
            limit=PAGE_SIZE,
            kind=None if kind == "(all)" else kind,
        )
    if not page.items:
        st.info("No records after this seq.")
        return
    st.dataframe(
        [
            {
                "seq": r.seq,
                "time (UTC)": r.ts,
                "kind": r.kind,
                "hash": r.hash[:16],
                "payload": json.dumps(r.payload, sort_keys=True)[:200],
            }
            for r in page.items
        ],
        hide_index=True,
        width="stretch",
    )
    if page.next_after_seq is not None:
        st.caption(f"More records: set 'After seq' to {page.next_after_seq}.")
    chosen = st.selectbox("Inspect record", [r.seq for r in page.items], key="audit_seq")
    record = next(r for r in page.items if r.seq == chosen)
    st.json(record.model_dump(mode="json"))
