"""Billing: plans and prices, usage by customer, revenue share by author, KPIs by month."""

from __future__ import annotations

from collections import Counter

import streamlit as st
from sqlalchemy import select

from connectors.store.billing import (
    billing_closes,
    billing_invoices,
    billing_statements,
    load_stored_catalogue,
    read_usage,
)
from dashboards.store import require_engine

TITLE = "Billing"
ICON = ":material/payments:"
URL = "billing"


def _money(minor: int, currency: str = "usd") -> str:
    return f"{minor / 100:,.2f} {currency.upper()}"


def render() -> None:
    st.title("Billing", anchor=False)
    engine = require_engine()
    catalogue = load_stored_catalogue(engine)
    if catalogue is None:
        st.info("Billing is not set up on this store: run `quorum billing plans` or the demo.")
        return
    plans, usage, revenue, kpis = st.tabs(["Plans", "Usage", "Revenue share", "KPIs"])
    with plans:
        st.caption(f"Catalogue version {catalogue.version}")
        st.dataframe(
            [
                {
                    "plan": p.name,
                    "per month": _money(p.price_minor, catalogue.currency),
                    "per signal": _money(p.price_per_signal_minor, catalogue.currency),
                    "trial days": p.trial_days,
                    "decisions": ", ".join(d.value for d in p.entitlements.decisions),
                    "timeframes": ", ".join(t.value for t in p.entitlements.timeframes),
                    "delay (min)": p.entitlements.delay_seconds // 60,
                    "channels": ", ".join(c.value for c in p.entitlements.channels),
                    "seats": p.entitlements.seats,
                }
                for p in catalogue.plans
            ],
            hide_index=True,
            width="stretch",
        )
    with usage:
        events = read_usage(engine)
        if not events:
            st.info("No usage metered yet.")
        else:
            count = Counter((u.customer_id, u.plan_id) for u in events)
            priced = Counter()
            for u in events:
                priced[(u.customer_id, u.plan_id)] += u.price_minor
            st.dataframe(
                [
                    {
                        "customer": c,
                        "plan": p,
                        "signals delivered": n,
                        "metered": _money(priced[(c, p)], catalogue.currency),
                    }
                    for (c, p), n in sorted(count.items())
                ],
                hide_index=True,
                width="stretch",
            )
    with engine.connect() as conn:
        statements = conn.execute(
            select(billing_statements).order_by(billing_statements.c.month)
        ).all()
        invoices = conn.execute(select(billing_invoices).order_by(billing_invoices.c.month)).all()
        closes = conn.execute(select(billing_closes).order_by(billing_closes.c.month)).all()
    with revenue:
        if not statements:
            st.info("No month closed yet: `quorum billing close --month YYYY-MM`.")
        else:
            st.dataframe(
                [
                    {
                        "month": r.month,
                        "author": r.author,
                        "signals": len({line["signal_id"] for line in r.statement["lines"]}),
                        "attributed": _money(r.statement["attributed_minor"], catalogue.currency),
                        "payable": _money(r.payable_minor, catalogue.currency),
                    }
                    for r in statements
                ],
                hide_index=True,
                width="stretch",
            )
    with kpis:
        if not closes:
            st.info("No month closed yet.")
        for close in closes:
            k = close.kpis
            st.subheader(close.month, anchor=False)
            cols = st.columns(4)
            cols[0].metric("MRR", _money(k["mrr_minor"], catalogue.currency))
            cols[1].metric("ARPU", _money(k["arpu_minor"], catalogue.currency))
            conversion = k["trial_conversion"]
            cols[2].metric(
                "Trial conversion",
                "n/a" if conversion is None else f"{conversion:.0%}",
                help=f"{k['trials_converted']} of {k['trials_ended']} trials",
            )
            churn = k["churn_rate"]
            cols[3].metric(
                "Churn",
                "n/a" if churn is None else f"{churn:.0%}",
                help=f"{k['churned']} of {k['paying_in_month']} paying",
            )
            st.dataframe(
                [
                    {
                        "customer": r.customer_id,
                        "invoice": r.invoice_id,
                        "fees paid": _money(r.total_minor, r.currency),
                        "lines": "; ".join(line["description"] for line in r.lines),
                    }
                    for r in invoices
                    if r.month == close.month
                ],
                hide_index=True,
                width="stretch",
            )
