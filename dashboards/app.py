"""Entry script of the dashboard: ``streamlit run dashboards/app.py [-- --store PATH]``.

Builds the navigation over :mod:`dashboards.views`; ``quorum dashboard`` runs it headless.
"""

from __future__ import annotations

from types import ModuleType

import streamlit as st

from dashboards.config import current
from dashboards.views import (
    audit_log,
    billing,
    charts,
    control_room,
    controls,
    feed_health,
    fusion,
    portfolio,
    reviews,
    run_report,
    signals_board,
    sla,
    venues,
)

# Navigation groups; the first page (signals) is the default.
SECTIONS = {
    "Signals": (signals_board, charts, fusion, reviews),
    "Trading": (portfolio, run_report, controls, control_room, venues),
    "Operations": (feed_health, sla, audit_log),
    "Billing": (billing,),
}


def _page(module: ModuleType) -> st.Page:
    return st.Page(
        module.render,
        title=module.TITLE,
        icon=module.ICON,
        url_path=module.URL,
        default=module is signals_board,
    )


def main() -> None:
    st.set_page_config(page_title="Quorum", page_icon=":material/hub:", layout="wide")
    navigation = st.navigation(
        {section: [_page(m) for m in modules] for section, modules in SECTIONS.items()}
    )
    st.sidebar.caption(f"Store: {current().store}")
    navigation.run()


if __name__ == "__main__":  # Streamlit runs this file as __main__
    main()
