"""Cell parsers: one column of a file → numpy values plus the rows that failed, and why.

Every parser returns a :class:`ParsedColumn`; a row is *missing* when a required cell is empty
and *invalid* when the cell holds something that is not a value of the field. Parsers never
raise for a bad cell; they raise :class:`MarketDataFileError` only when the column's type is
unusable as a whole (a column of booleans for a price).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import numpy as np
import polars as pl

from connectors.files.errors import MarketDataFileError
from connectors.files.symbols import normalize_symbol
from schemas.common import datetime_to_ns

_INT64_MAX = np.iinfo(np.int64).max


@dataclass(slots=True)
class ParsedColumn:
    """One field parsed from one column: values plus the rows that failed, and why."""

    column: str
    values: np.ndarray
    missing: np.ndarray
    invalid: np.ndarray
    problem: str

    @classmethod
    def of(
        cls, column: str, values: np.ndarray, missing: np.ndarray, invalid: np.ndarray, problem: str
    ) -> ParsedColumn:
        return cls(column, values, missing, invalid & ~missing, problem)

    def select(self, rows: np.ndarray) -> ParsedColumn:
        """The same column restricted to ``rows`` (a boolean mask)."""
        return ParsedColumn(
            self.column, self.values[rows], self.missing[rows], self.invalid[rows], self.problem
        )


def _text(series: pl.Series) -> pl.Series:
    """Stripped text with empty cells as nulls."""
    text = series.cast(pl.String).str.strip_chars()
    return pl.select(pl.when(text == "").then(None).otherwise(text)).to_series()


def _type_error(path: Path, field_name: str, series: pl.Series, expected: str) -> NoReturn:
    raise MarketDataFileError(
        f"{path.name}: column {series.name!r} ({field_name}) has type {series.dtype}; "
        f"expected {expected}"
    )


def parse_float(path: Path, field_name: str, series: pl.Series) -> ParsedColumn:
    """Numbers (or text holding numbers) → float64; NaN and ±inf parse (validation judges them).

    >>> p = parse_float(Path("f.csv"), "price", pl.Series("price", ["1.5", "abc", None, "nan"]))
    >>> p.values.tolist()[:1], p.invalid.tolist(), p.missing.tolist()
    ([1.5], [False, True, False, False], [False, False, True, False])
    """
    dtype = series.dtype
    if dtype.is_numeric():
        values = series.cast(pl.Float64)
        missing = series.is_null().to_numpy()
        invalid = np.zeros(len(series), dtype=bool)
    elif dtype == pl.String:
        text = _text(series)
        values = text.cast(pl.Float64, strict=False)
        missing = text.is_null().to_numpy()
        invalid = values.is_null().to_numpy()
    else:
        _type_error(path, field_name, series, "numbers")
    array = values.fill_null(np.nan).to_numpy().astype(np.float64, copy=False)
    return ParsedColumn.of(series.name, array, missing, invalid, "is not a number")


_EPOCH_UNITS: tuple[tuple[float, int], ...] = ((1e11, 10**9), (1e14, 10**6), (1e17, 10**3))


def _epoch_factor(magnitudes: np.ndarray) -> int:
    """Nanoseconds per unit of an epoch column, from the median magnitude of its values."""
    finite = magnitudes[np.isfinite(magnitudes)]
    median = float(np.median(np.abs(finite))) if finite.size else 0.0
    for limit, factor in _EPOCH_UNITS:
        if median < limit:
            return factor
    return 1


def _scale_ints(values: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """int64 epochs × factor, with the rows that would overflow int64 nanoseconds."""
    overflow = np.abs(values) > _INT64_MAX // factor
    return np.where(overflow, 0, values) * factor, overflow


def _scale_floats(values: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Float epochs × factor; whole and fractional parts apart, so 0.25 s stays exact."""
    bad = ~np.isfinite(values) | (np.abs(values * float(factor)) >= 9.2e18)
    safe = np.where(bad, 0.0, values)
    whole = np.floor(safe)
    fraction = np.round((safe - whole) * factor).astype(np.int64)
    return whole.astype(np.int64) * factor + fraction, bad


def _iso_to_ns(text: str) -> int | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    ns = datetime_to_ns(value)
    return ns if -_INT64_MAX <= ns <= _INT64_MAX else None


def _datetimes_to_ns(series: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Datetime column → ns; rows beyond the int64-ns range (1677–2262) fail."""
    if series.dtype.time_unit == "ns":  # type: ignore[attr-defined]
        ns = series.dt.epoch("ns")
        return ns.fill_null(0).to_numpy(), np.zeros(len(series), dtype=bool)
    micros = series.dt.epoch("us").fill_null(0).to_numpy()
    return _scale_ints(micros, 1000)


def _parse_text_timestamps(text: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """ISO 8601 text (or epoch numbers written as text) → ns and the rows that failed."""
    present = text.is_not_null().to_numpy()
    numbers = text.cast(pl.Float64, strict=False)
    numeric = numbers.is_not_null().to_numpy()
    if numeric.sum() * 2 >= present.sum() > 0:  # mostly epoch numbers
        factor = _epoch_factor(numbers.drop_nulls().to_numpy())
        ints = text.cast(pl.Int64, strict=False)
        exact = ints.is_not_null().to_numpy()
        ns_int, over_int = _scale_ints(ints.fill_null(0).to_numpy(), factor)
        ns_float, over_float = _scale_floats(numbers.fill_null(0.0).to_numpy(), factor)
        ns = np.where(exact, ns_int, ns_float)
        failed = np.where(exact, over_int, over_float | ~numeric)
        return ns, failed
    ns = np.zeros(len(text), dtype=np.int64)
    failed = np.ones(len(text), dtype=bool)
    try:  # polars wraps around silently beyond the ns range: read µs too, to check it
        micros = text.str.to_datetime(strict=False, time_unit="us").dt.epoch("us")
        nanos = text.str.to_datetime(strict=False, time_unit="ns").dt.epoch("ns")
    except pl.exceptions.PolarsError:  # no format could be inferred: parse row by row
        micros = nanos = None
    if micros is not None and nanos is not None:
        us = micros.fill_null(0).to_numpy()
        ok = micros.is_not_null().to_numpy() & (np.abs(us) <= _INT64_MAX // 1000)
        ok &= nanos.is_not_null().to_numpy() & (nanos.fill_null(0).to_numpy() // 1000 == us)
        ns[ok] = nanos.to_numpy()[ok]
        failed[ok] = False
    for i in np.flatnonzero(failed & present):  # other ISO layouts, one by one
        value = _iso_to_ns(str(text[int(i)]))
        if value is not None:
            ns[i], failed[i] = value, False
    return ns, failed


def parse_timestamp(path: Path, series: pl.Series) -> ParsedColumn:
    """Datetimes, dates, epochs (unit by magnitude) or ISO 8601 text → int64 ns since the epoch.

    >>> text = pl.Series("ts", ["2021-01-08T00:00:00Z", "2021-01-08 01:00:00+01:00", "soon"])
    >>> p = parse_timestamp(Path("f.csv"), text)
    >>> p.values[:2].tolist(), p.invalid.tolist()
    ([1610064000000000000, 1610064000000000000], [False, False, True])
    >>> parse_timestamp(Path("f.csv"), pl.Series("ts", [1610064000123])).values.tolist()
    [1610064000123000000]
    """
    dtype = series.dtype
    missing = series.is_null().to_numpy()
    if dtype == pl.Date:
        series, dtype = series.cast(pl.Datetime("ms")), pl.Datetime("ms")
    if isinstance(dtype, pl.Datetime):
        ns, failed = _datetimes_to_ns(series)
    elif dtype.is_integer():
        values = series.cast(pl.Int64).fill_null(0).to_numpy()
        ns, failed = _scale_ints(values, _epoch_factor(values[~missing].astype(np.float64)))
    elif dtype.is_float():
        values = series.cast(pl.Float64).fill_null(0.0).to_numpy()
        ns, failed = _scale_floats(values, _epoch_factor(values[~missing]))
    elif dtype == pl.String:
        text = _text(series)
        missing = text.is_null().to_numpy()
        ns, failed = _parse_text_timestamps(text)
    else:
        _type_error(path, "ts", series, "datetimes, epoch numbers or ISO 8601 text")
    problem = "is not a timestamp (ISO 8601 or an epoch in s/ms/us/ns, years 1677–2262)"
    return ParsedColumn.of(series.name, ns.astype(np.int64, copy=False), missing, failed, problem)


_ID_HASH_MASK = (1 << 63) - 1


def _hash_id(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") & (
        _ID_HASH_MASK
    )


def parse_trade_id(path: Path, series: pl.Series) -> ParsedColumn:
    """Venue ids → int64: integers ≥ 0 kept, other text hashed (stable), missing → -1.

    >>> parse_trade_id(Path("f.csv"), pl.Series("id", ["17", None, "-3"])).values.tolist()
    [17, -1, -1]
    """
    dtype = series.dtype
    missing = series.is_null().to_numpy()
    n = len(series)
    if dtype.is_integer():
        ids = series.cast(pl.Int64).fill_null(-1).to_numpy()
        invalid = (ids < 0) & ~missing
    elif dtype.is_float():
        floats = series.fill_null(0.0).to_numpy()
        invalid = (~np.isfinite(floats) | (floats != np.floor(floats)) | (floats < 0)) & ~missing
        ids = np.where(invalid, -1, floats).astype(np.int64)
    elif dtype == pl.String:
        text = _text(series)
        missing = text.is_null().to_numpy()
        ints = text.cast(pl.Int64, strict=False)
        numeric = ints.is_not_null().to_numpy()
        ids = ints.fill_null(-1).to_numpy().copy()
        invalid = numeric & (ids < 0)
        words = ~numeric & ~missing
        if words.any():
            hashes = {t: _hash_id(t) for t in text.filter(pl.Series(words)).unique().to_list()}
            ids[words] = [hashes[t] for t in text.filter(pl.Series(words)).to_list()]
    else:
        _type_error(path, "trade_id", series, "integers or text")
    ids = np.where(missing | invalid, -1, ids).astype(np.int64)
    return ParsedColumn.of(series.name, ids, np.zeros(n, dtype=bool), invalid, "is not a valid id")


SIDE_WORDS = {"buy": 1, "b": 1, "1": 1, "sell": -1, "s": -1, "-1": -1}
FLAG_WORDS = {"true": -1, "t": -1, "1": -1, "false": 1, "f": 1, "0": 1}  # buyer_maker → side


def parse_words(
    path: Path, field_name: str, series: pl.Series, words: Mapping[str, int], problem: str
) -> ParsedColumn:
    """Side-like column → int8 (+1 buy, -1 sell, 0 unknown when missing)."""
    if series.dtype == pl.Boolean:
        series = series.cast(pl.Int8).cast(pl.String)
    elif series.dtype.is_integer():
        series = series.cast(pl.String)
    elif series.dtype != pl.String:
        _type_error(path, field_name, series, problem.removeprefix("is not "))
    text = _text(series).str.to_lowercase()
    missing = text.is_null().to_numpy()
    mapped = text.replace_strict(dict(words), default=None, return_dtype=pl.Int8)
    invalid = mapped.is_null().to_numpy() & ~missing
    values = mapped.fill_null(0).to_numpy().astype(np.int8)
    return ParsedColumn.of(series.name, values, np.zeros(len(series), dtype=bool), invalid, problem)


def parse_count(path: Path, series: pl.Series) -> ParsedColumn:
    """Trade counts of candles → int64 (missing → 0); fractions and negatives are invalid."""
    parsed = parse_float(path, "trades", series)
    values = parsed.values
    invalid = parsed.invalid | (values < 0) | (np.isfinite(values) & (values != np.floor(values)))
    invalid |= ~np.isfinite(values) & ~parsed.missing
    counts = np.where(np.isfinite(values) & ~invalid, values, 0).astype(np.int64)
    zeros = np.zeros(len(series), dtype=bool)
    return ParsedColumn.of(parsed.column, counts, zeros, invalid, "is not a count (integer ≥ 0)")


def parse_symbols(path: Path, series: pl.Series) -> ParsedColumn:
    """A symbol column → normalized symbols (object array); empty cells are missing."""
    if series.dtype not in (pl.String, pl.Categorical, pl.Enum):
        _type_error(path, "symbol", series, "text")
    text = _text(series)
    missing = text.is_null().to_numpy()
    unique = text.drop_nulls().unique().to_list()
    normal = {s: normalize_symbol(s) for s in unique}
    values = text.replace_strict(normal, default=None, return_dtype=pl.String).to_numpy()
    zeros = np.zeros(len(series), dtype=bool)
    return ParsedColumn.of(series.name, values.astype(object), missing, zeros, "is not a symbol")
