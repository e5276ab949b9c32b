"""The options every command that reads market-data files shares: ``--symbol``, ``--timeframe``.

A file names its symbol in a ``symbol`` column or in its name (``btcusdt_…``, or a configured
instrument's plain ticker: ``nvda_…``), and candles tell their timeframe by their spacing; when
they cannot, these options say it, and the loaders' errors name the option to use.
"""

from __future__ import annotations

import argparse


def add_file_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--symbol`` and ``--timeframe`` to a command that reads files."""
    parser.add_argument(
        "--symbol",
        help="symbol of files without a symbol column whose name states none "
        "(BTC/USDT, EUR/USD, or a plain ticker: NVDA, ES)",
    )
    parser.add_argument(
        "--timeframe",
        help="timeframe of candle files whose spacing does not tell it (1m 5m 15m 1h 4h 1d 1w)",
    )


def chosen_timeframe(args: argparse.Namespace) -> str | None:
    """The ``--timeframe`` given, checked; a bad one is a usage error naming the accepted ones.

    >>> chosen_timeframe(argparse.Namespace(timeframe="1d"))
    '1d'
    """
    text = getattr(args, "timeframe", None)
    if text is None:
        return None
    from flows.cli import UserError
    from schemas.common import Timeframe

    try:
        return Timeframe.parse(text).value
    except ValueError as exc:
        raise UserError(f"--timeframe: {exc}") from None
