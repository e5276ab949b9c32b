"""Trading control: the kill switch for people with the ``trading:control`` scope.

Shows the last commands (who, why, when, through which channel) from the audit log; a
signed-in person with the scope can halt, reduce or resume trading, and close a position by
hand. Commands go through :func:`api.controls.set_trading_state` and
:func:`api.controls.close_position`, as the API's and the CLI's do, and reach running flows
through the audit-log inbox.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from api.controls import CONTROL_KIND, close_position, set_trading_state
from api.keys import ApiKey, Scope
from api.models import ClosePositionIn, TradingControlIn
from api.reads.audit import audit_page
from dashboards.auth import sign_in_panel, via
from dashboards.store import require_engine

TITLE = "Trading control"
ICON = ":material/emergency_home:"
URL = "control"
_SHOWN = 200


def render() -> None:
    st.title("Trading control", anchor=False)
    engine = require_engine()
    who = sign_in_panel(engine)
    if flash := st.session_state.pop("control_flash", None):
        st.success(flash)
    with engine.connect() as conn:
        records = audit_page(conn, after_seq=-1, limit=_SHOWN, kind=CONTROL_KIND).items
    if records:
        latest = records[-1].payload
        st.metric("last command", f"{latest['command']} → {latest['state']}")
        st.dataframe(
            [
                {
                    "time (UTC)": r.ts,
                    "command": r.payload["command"],
                    "by": r.payload["actor"],
                    "reason": r.payload["reason"],
                    "via": r.payload["via"],
                    "audit seq": r.seq,
                }
                for r in reversed(records)
            ],
            hide_index=True,
            width="stretch",
        )
    else:
        st.info("No trading command was given on this store.")
    if who is None or not who.allows(Scope.TRADING_CONTROL):
        st.info("Read-only: sign in with an API key that has the `trading:control` scope.")
        return
    with st.form("control", clear_on_submit=True):
        reason = st.text_input("Reason (recorded in the audit log)", key="control_reason")
        halt_col, reduce_col, resume_col = st.columns(3)
        pressed = {
            "halt": halt_col.form_submit_button("Halt", type="primary"),
            "reduce": reduce_col.form_submit_button("Reduce only"),
            "resume": resume_col.form_submit_button("Resume"),
        }
    _close_form(engine, who)
    command = next((name for name, hit in pressed.items() if hit), None)
    if command is None:
        return
    try:
        body = TradingControlIn(command=command, reason=reason)
    except ValidationError as exc:
        st.error("; ".join(e["msg"] for e in exc.errors()))
        return
    outcome = set_trading_state(
        engine,
        body.command,
        actor=who.owner,
        reason=body.reason,
        via=via(who),
        now=datetime.now(UTC),
    )
    st.session_state["control_flash"] = (
        f"{command} recorded (audit record {outcome.audit.seq}); running flows apply it at "
        "their next poll"
    )
    st.rerun()


def _close_form(engine: Engine, who: ApiKey) -> None:
    """Close a position by hand: a reduce-only order through the guards, audited."""
    with st.form("close_position", clear_on_submit=True):
        st.subheader("Close a position by hand", anchor=False)
        asset_col, portfolio_col = st.columns(2)
        asset = asset_col.text_input("Asset (e.g. BTC/USDT)", key="close_asset")
        portfolio = portfolio_col.text_input("Portfolio", value="default", key="close_portfolio")
        reason = st.text_input("Reason (recorded in the audit log)", key="close_reason")
        submitted = st.form_submit_button("Close position")
    if not submitted:
        return
    try:
        body = ClosePositionIn(asset=asset, portfolio=portfolio, reason=reason)
    except ValidationError as exc:
        st.error("; ".join(e["msg"] for e in exc.errors()))
        return
    outcome = close_position(
        engine,
        body.asset,
        portfolio=body.portfolio,
        actor=who.owner,
        reason=body.reason,
        via=via(who),
        now=datetime.now(UTC),
    )
    st.session_state["control_flash"] = (
        f"close of {body.asset} recorded (audit record {outcome.audit.seq}); running flows "
        "apply it at their next poll"
    )
    st.rerun()
