"""The dashboard's pages: one module each, with a ``render()`` function and a ``TITLE``."""
