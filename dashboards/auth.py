"""Who is using the dashboard, and what they may do: the API's key store decides.

A person signs in with an API key (the same keys ``quorum serve --create-key`` makes); the
session keeps the key's id, owner and scopes, never the key. Behind a trusted reverse proxy
that authenticates people itself, ``QUORUM_DASHBOARD_AUTH_HEADER`` names the header carrying
the user name; that user's scopes are those of the active API keys they own. Reading needs no
sign-in; deciding reviews needs the ``review`` scope and the kill switch ``trading:control``.
The audit log records the authenticated owner, never a typed-in name.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy import select
from sqlalchemy.engine import Engine

from api.keys import ApiKey, Scope, api_keys, authenticate
from dashboards.config import current

_SESSION_KEY = "dashboard_identity"


PROXY_KEY_ID = "proxy"
"""The key id a proxy-authenticated person is recorded with (``via``: ``dashboard:proxy``)."""


def via(who: ApiKey) -> str:
    """How a dashboard action was authenticated, as the audit log records it."""
    return f"dashboard:{who.key_id}"


def from_proxy(engine: Engine, user: str) -> ApiKey:
    """The proxy's user, with the scopes of the active keys they own (none: read-only)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(api_keys.c.scopes).where(
                api_keys.c.owner == user, api_keys.c.revoked_at.is_(None)
            )
        ).all()
    scopes = frozenset(
        Scope(s) for (names,) in rows for s in names if s in Scope._value2member_map_
    )
    return ApiKey(PROXY_KEY_ID, user, scopes)


def identity(engine: Engine) -> ApiKey | None:
    """The signed-in person of this session (or the proxy's user), None when anonymous."""
    header = current().auth_header
    if header:
        user = (st.context.headers.get(header) or "").strip()
        return from_proxy(engine, user) if user else None
    return st.session_state.get(_SESSION_KEY)


def sign_in_panel(engine: Engine) -> ApiKey | None:
    """The sidebar's sign-in / sign-out controls; returns who is signed in."""
    who = identity(engine)
    if current().auth_header:
        st.sidebar.caption(f"Signed in as {who.owner} (proxy)" if who else "Not signed in")
        return who
    if who is not None:
        scopes = ", ".join(sorted(s.value for s in who.scopes))
        st.sidebar.caption(f"Signed in as {who.owner} ({scopes})")
        if st.sidebar.button("Sign out", key="sign_out"):
            del st.session_state[_SESSION_KEY]
            st.rerun()
        return who
    with st.sidebar.form("sign_in"):
        presented = st.text_input("API key", type="password", key="api_key_input")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        key = authenticate(engine, presented.strip()) if presented else None
        if key is None:
            st.sidebar.error("That API key is not valid (unknown, revoked or mistyped).")
            return None
        st.session_state[_SESSION_KEY] = key
        st.rerun()
    return None
