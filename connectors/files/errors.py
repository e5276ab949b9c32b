"""Errors and dead-letter reasons of the market-data file loader."""

from __future__ import annotations

MISSING_VALUE = "missing_value"
"""Dead-letter reason: a required cell is empty."""
UNPARSEABLE_VALUE = "unparseable_value"
"""Dead-letter reason: a cell holds something that is not a value of its field."""


class MarketDataFileError(ValueError):
    """A market-data file that cannot be used at all: the message names the file and why.

    >>> from connectors.files import load_trades
    >>> load_trades("prices.xlsx")
    Traceback (most recent call last):
    ...
    connectors.files.errors.MarketDataFileError: prices.xlsx: unknown file type '.xlsx'; ...
    """
