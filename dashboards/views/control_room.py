"""Control room: the running configuration, its versions, and (scope ``control``) changing it.

Everyone sees the version in force, the effective fusion bands and weights, which signal sources
are on, the risk limits and every version (who, why, when, what changed, what the running flow
made of it). A signed-in person with the ``control`` scope can change bands, weights, sources and
limits, or restore an earlier version; each change goes through
:func:`connectors.store.control.record_change` like the API's and the CLI's — validated against
the run's configuration (``--config`` / ``QUORUM_CONFIG``), recorded as the next version with the
signed-in identity, audited — and running flows apply it at their next poll of the inbox.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import streamlit as st
from pydantic import ValidationError

from api.controls import control_base
from api.keys import ApiKey, Scope
from connectors.store.control import (
    latest_version,
    read_applied,
    read_versions,
    record_change,
    revert_to,
)
from dashboards.auth import sign_in_panel, via
from dashboards.config import current
from dashboards.store import require_engine
from operators.control.settings import ControlBase, ControlError, ControlSettings, settings_for
from schemas.control import ControlChange, ControlOverrides

TITLE = "Control room"
ICON = ":material/tune:"
URL = "control-room"

RISK_FIELDS = (
    "max_position_notional",
    "max_asset_exposure_pct",
    "max_total_exposure_pct",
    "max_open_positions",
    "daily_loss_limit_pct",
    "max_drawdown_pct",
    "max_spread_bps",
    "max_orders_per_window",
)
"""The limits the form edits (the API and the CLI reach every RiskConfig field)."""


def render() -> None:
    st.title("Control room", anchor=False)
    engine = require_engine()
    who = sign_in_panel(engine)
    if flash := st.session_state.pop("control_room_flash", None):
        st.success(flash)
    try:
        base = control_base(current().config)
    except ValueError as exc:
        st.error(f"Cannot load the run configuration: {exc}")
        return
    latest = latest_version(engine)
    overrides = ControlOverrides() if latest is None else latest.overrides
    try:
        settings = settings_for(base, overrides)
    except ControlError as exc:
        st.error(f"The stored version does not fit this configuration: {exc}")
        return
    applied = read_applied(engine)
    _show_state(settings, base, latest, applied)
    _show_history(engine, applied)
    if who is None or not who.allows(Scope.CONTROL):
        st.info("Read-only: sign in with an API key that has the `control` scope to change it.")
        return
    _change_form(engine, base, settings, who)
    _revert_form(engine, base, latest, who)


def _show_state(settings: ControlSettings, base: ControlBase, latest: Any, applied: dict) -> None:
    version = 0 if latest is None else latest.version
    status = "configuration file"
    if latest is not None:
        outcome = applied.get(version)
        status = (
            "not taken by a flow yet"
            if outcome is None
            else ("applied" if outcome.applied else f"refused: {outcome.detail}")
        )
    left, middle, right = st.columns(3)
    left.metric("version in force", version)
    middle.metric("open above", settings.fusion.open_above)
    right.metric("review from", settings.fusion.review_from)
    st.caption(f"Version {version}: {status}")
    fusion_col, sources_col, risk_col = st.columns(3)
    fusion_col.subheader("Fusion weights", anchor=False)
    fusion_col.dataframe(
        [{"origin": k, "prior weight": v} for k, v in settings.fusion.priors.items()]
        + [
            {"origin": f"timeframe {tf.value}", "prior weight": w}
            for tf, w in settings.fusion.timeframe_weights.items()
        ],
        hide_index=True,
    )
    sources_col.subheader("Sources", anchor=False)
    sources_col.dataframe(
        [{"source": s, "on": s not in settings.disabled} for s in base.sources], hide_index=True
    )
    risk_col.subheader("Risk limits", anchor=False)
    risk = settings.risk.model_dump(mode="json")
    risk_col.dataframe([{"limit": k, "value": str(v)} for k, v in risk.items()], hide_index=True)


def _show_history(engine: Any, applied: dict) -> None:
    st.subheader("Versions", anchor=False)
    versions = read_versions(engine)
    if not versions:
        st.info("No change was made on this store: the configuration file is in force.")
        return
    st.dataframe(
        [
            {
                "version": v.version,
                "time (UTC)": v.ts,
                "by": v.actor,
                "via": v.via,
                "reason": v.reason,
                "changes": "; ".join(f"{c.path}: {c.before} → {c.after}" for c in v.diff),
                "reverts to": v.reverts_to,
                "flow": _flow_status(applied.get(v.version)),
            }
            for v in reversed(versions)
        ],
        hide_index=True,
        width="stretch",
    )


def _flow_status(outcome: Any) -> str:
    if outcome is None:
        return "not taken yet"
    return "applied" if outcome.applied else f"refused: {outcome.detail}"


def _change_form(engine: Any, base: ControlBase, settings: ControlSettings, who: ApiKey) -> None:
    fusion = settings.fusion
    risk = settings.risk.model_dump(mode="json")
    with st.form("control_change"):
        st.subheader("Change", anchor=False)
        band_left, band_right = st.columns(2)
        open_above = band_left.number_input(
            "open above", 0.0, 1.0, float(fusion.open_above), 0.01, key="open_above"
        )
        review_from = band_right.number_input(
            "review from", 0.0, 1.0, float(fusion.review_from), 0.01, key="review_from"
        )
        weights = st.text_input(
            "prior weights (origin=weight, comma-separated)", key="control_weights"
        )
        disabled = st.multiselect(
            "sources switched off", base.sources, sorted(settings.disabled), key="control_off"
        )
        limits: dict[str, Any] = {}
        columns = st.columns(4)
        for i, name in enumerate(RISK_FIELDS):
            limits[name] = columns[i % 4].number_input(
                name, value=float(risk[name]), key=f"risk_{name}"
            )
        reason = st.text_input("Reason (recorded in the audit log)", key="control_change_reason")
        submitted = st.form_submit_button("Apply change", type="primary")
    if not submitted:
        return
    wanted_fusion: dict[str, Any] = {}
    if open_above != fusion.open_above:
        wanted_fusion["open_above"] = open_above
    if review_from != fusion.review_from:
        wanted_fusion["review_from"] = review_from
    try:
        priors = _weights(weights)
        if priors:
            wanted_fusion["priors"] = priors
        wanted_risk = {
            name: _limit(risk[name], value)
            for name, value in limits.items()
            if _differs(risk[name], value)
        }
        change = ControlChange(
            fusion=wanted_fusion,
            risk=wanted_risk,
            disable=sorted(set(disabled) - settings.disabled),
            enable=sorted(settings.disabled - set(disabled)),
        )
        version = record_change(
            engine,
            base,
            change,
            actor=who.owner,
            reason=reason,
            via=via(who),
            now=datetime.now(UTC),
        )
    except (ControlError, ValidationError, ValueError) as exc:
        st.error(str(exc))
        return
    st.session_state["control_room_flash"] = (
        f"version {version.version} recorded; running flows apply it at their next poll"
    )
    st.rerun()


def _weights(text: str) -> dict[str, float]:
    """``rules:x=2, stat=0.5`` → ``{'rules:x': 2.0, 'stat': 0.5}``.

    >>> _weights("rules:x=2, stat=0.5")
    {'rules:x': 2.0, 'stat': 0.5}
    """
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        origin, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"weights: expected origin=weight, got {item!r}")
        try:
            out[origin.strip()] = float(value)
        except ValueError:
            raise ValueError(f"weights: {origin.strip()!r} needs a number, got {value!r}") from None
    return out


def _limit(current: Any, value: float) -> Any:
    """A form number in the type of the limit it edits (counts stay ints, money exact text).

    >>> _limit(5, 3.0), _limit("50000", 1234567.0), _limit(10.0, 2.5)
    (3, '1234567.0', 2.5)
    """
    if isinstance(current, int) and not isinstance(current, bool):
        return int(value)
    if isinstance(current, str):
        return str(Decimal(repr(float(value))))
    return float(value)


def _differs(current: Any, value: float) -> bool:
    return Decimal(str(_limit(current, value))) != Decimal(str(current))


def _revert_form(engine: Any, base: ControlBase, latest: Any, who: ApiKey) -> None:
    if latest is None:
        return
    with st.form("control_revert"):
        st.subheader("Revert", anchor=False)
        target = st.selectbox(
            "restore the values of version (0: the configuration file)",
            list(range(latest.version)),
            key="control_revert_to",
        )
        reason = st.text_input("Reason (recorded in the audit log)", key="control_revert_reason")
        submitted = st.form_submit_button("Revert")
    if not submitted:
        return
    try:
        version = revert_to(
            engine,
            base,
            int(target),
            actor=who.owner,
            reason=reason,
            via=via(who),
            now=datetime.now(UTC),
        )
    except ControlError as exc:
        st.error(str(exc))
        return
    st.session_state["control_room_flash"] = (
        f"version {version.version} restores version {target}; running flows apply it at "
        "their next poll"
    )
    st.rerun()
