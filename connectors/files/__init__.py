"""Load recorded market data (Parquet or CSV) into normalized polars frames.

Two kinds of file are read, told apart by their columns (:func:`detect_kind`):

* **trades** — ``ts``, ``price``, ``amount`` and optionally ``trade_id``, ``side`` (or
  ``buyer_maker``) and ``symbol``;
* **candles** — ``ts``, ``open``, ``high``, ``low``, ``close`` and optionally ``volume``,
  ``trades`` (count) and ``symbol``; ``ts`` is the open time of the bar.

Column names are matched case-insensitively, with the aliases in :data:`TRADE_COLUMNS` and
:data:`CANDLE_COLUMNS` (``timestamp`` → ``ts``, ``quantity``/``qty``/``size`` → ``amount``,
``id`` → ``trade_id`` …).

Rules, once for every file:

* **Timestamps** may be datetimes of any unit (a naive datetime is taken as UTC; an aware one
  is converted to UTC), dates (midnight UTC), integer or float epochs, or text (ISO 8601, or
  epoch numbers written as text). The unit of an epoch column is detected once per file from
  the median magnitude of its values: below 1e11 seconds, below 1e14 milliseconds, below 1e17
  microseconds, otherwise nanoseconds (so any date from 1973 to 5138 is read in the right unit).
  Every timestamp becomes ``ts_ns``: int64 nanoseconds since the epoch, UTC.
* **Side**: ``side`` text ``buy``/``sell`` (also ``b``/``s``, any case) or ``1``/``-1``; else a
  ``buyer_maker`` flag (``True`` = the buyer was the resting order, so the aggressor sold):
  True → sell, False → buy. Missing → unknown (0). ``side`` wins when both columns exist.
* **Trade ids**: integers ≥ 0 are kept; text that is not an integer (UUID-style ids) becomes a
  stable 63-bit hash of the text, so duplicates still match; a missing id is -1 (unknown).
* **Symbol**: the ``symbol`` column when present, else the ``symbol`` argument, else the file
  name (:func:`symbol_from_filename`). With a ``symbol`` column, a ``symbol`` argument selects
  that symbol's rows. Symbols are normalized by :func:`normalize_symbol`.

A row that cannot be read (missing or unparseable cell) becomes a
:class:`~schemas.records.DeadLetter` (reason ``missing_value`` or ``unparseable_value``, the
detail naming the field and value, the raw row as JSON); values that parse but are implausible
(NaN, negative, duplicates …) are left for :mod:`operators.validation`. A file that cannot be
used at all (missing, unreadable, empty, unknown extension, required column absent) raises
:class:`MarketDataFileError` naming the file and the problem.

Modules: :mod:`.reading` (file types, column names, :func:`detect_kind`), :mod:`.cells`
(per-column parsers), :mod:`.symbols`, :mod:`.loaders` (:func:`load_trades`,
:func:`load_candles`), :mod:`.shipped` (the data in ``connectors/data``).

>>> trades = load_trades(shipped_path("xrp-eth_trades_2019-10"))
>>> trades.symbols, len(trades), trades.dead_letters
(('XRP/ETH',), 12477, [])
>>> trades.frame.columns
['symbol', 'ts_ns', 'price', 'amount', 'trade_id', 'side']
"""

from connectors.files.errors import MISSING_VALUE, UNPARSEABLE_VALUE, MarketDataFileError
from connectors.files.loaders import (
    LoadedCandles,
    LoadedFile,
    LoadedTrades,
    load_candles,
    load_market_data,
    load_trades,
    raw_json,
)
from connectors.files.reading import CANDLE_COLUMNS, TRADE_COLUMNS, ColumnSpec, Kind, detect_kind
from connectors.files.shipped import (
    DATA_DIR,
    DEFAULT_DATASETS,
    SHIPPED_DATA,
    ShippedFile,
    shipped_path,
)
from connectors.files.symbols import normalize_symbol, symbol_from_filename

__all__ = [
    "CANDLE_COLUMNS",
    "DATA_DIR",
    "DEFAULT_DATASETS",
    "MISSING_VALUE",
    "SHIPPED_DATA",
    "TRADE_COLUMNS",
    "UNPARSEABLE_VALUE",
    "ColumnSpec",
    "Kind",
    "LoadedCandles",
    "LoadedFile",
    "LoadedTrades",
    "MarketDataFileError",
    "ShippedFile",
    "detect_kind",
    "load_candles",
    "load_market_data",
    "load_trades",
    "normalize_symbol",
    "raw_json",
    "shipped_path",
    "symbol_from_filename",
]
