"""Declarative Bytewax dataflows of Quorum and the ``quorum`` command line."""
