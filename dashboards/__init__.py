"""Quorum's ops dashboard (Streamlit): signals, charts, fusion, reviews, portfolio, health, audit.

``quorum dashboard [--store PATH_OR_URL] [--port 8501]`` starts it; the entry script is
:mod:`dashboards.app` and every page is a ``render()`` function in :mod:`dashboards.views`.
"""
