"""Quorum's signal API (FastAPI): signals, review queue, portfolio, audit, health, metrics.

Build an app with :func:`api.app.create_app`; ``quorum serve`` runs one with uvicorn.
"""
