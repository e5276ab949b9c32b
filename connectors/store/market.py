"""Market-data tables of the store: candles, features, dead letters, late trades and runs.

Every time column (``ts``, ``watermark``, ``recorded_at``, ``started_at``, ``finished_at``) is a
``BIGINT`` of nanoseconds since the Unix epoch, UTC — the unit of the hot-path batches, exact,
and identical on SQLite and PostgreSQL. Readers hand it back as a polars ``Datetime("ns", "UTC")``.
Candles and features are stamped with their bar's open time.

Writers take whole batches and are idempotent, because Bytewax recovery is at-least-once at the
outputs: candles and features are upserted on ``(symbol, timeframe, ts)`` (a replay overwrites);
dead letters and late trades carry a dedupe key and a replay of one is ignored. NaN (an indicator
in warm-up) is stored as ``NULL`` and read back as NaN. Candle prices and volume are nullable
too, so a NaN that slipped past validation is kept (not lost, not crashing the sink) and flagged
by ``quorum data check``.

>>> from connectors.store.engine import open_store
>>> from schemas.batches import CandleBatch
>>> engine = open_store("sqlite://")
>>> batch = CandleBatch.from_columns("BTC/USDT", "1m", [0, 60_000_000_000], [10.0, 11.0],
...                                  [12.0, 12.5], [9.5, 10.5], [11.0, 12.0], [3.0, 4.0])
>>> write_candles(engine, [batch]), write_candles(engine, [batch])
(2, 2)
>>> read_candles(engine, symbol="BTC/USDT")["close"].to_list()
[11.0, 12.0]
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Double,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    func,
    inspect,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection, Engine

from connectors.store.engine import metadata, upsert
from operators.indicators.bank import DEFAULT_FEATURES as BANK_DEFAULT_FEATURES
from schemas.batches import CandleBatch, FeatureBatch
from schemas.common import datetime_to_ns
from schemas.records import DeadLetter, LateTrade, QualityFlag

DEFAULT_FEATURES: tuple[str, ...] = BANK_DEFAULT_FEATURES
"""Indicators with a column of their own in ``features`` (the indicator bank's defaults); any
other goes to its ``extra`` JSON."""

_SYMBOL = 64
_NAME = 64
_BAR_KEY = ("symbol", "timeframe", "ts")

candles = Table(
    "candles",
    metadata,
    Column("symbol", String(_SYMBOL), primary_key=True),
    Column("timeframe", String(8), primary_key=True),
    Column("ts", BigInteger, primary_key=True, comment="open time, ns since the epoch (UTC)"),
    Column("open", Double),
    Column("high", Double),
    Column("low", Double),
    Column("close", Double),
    Column("volume", Double),
    Column("trades", BigInteger, nullable=False),
    Column("source", String(_NAME), nullable=False),
)

features = Table(
    "features",
    metadata,
    Column("symbol", String(_SYMBOL), primary_key=True),
    Column("timeframe", String(8), primary_key=True),
    Column("ts", BigInteger, primary_key=True, comment="open time, ns since the epoch (UTC)"),
    Column("close", Double),
    *(Column(name, Double) for name in DEFAULT_FEATURES),
    Column("extra", JSON, comment="features without a column of their own: {name: value}"),
)


JUDGED_KEY = ("run_id", "source", "reason", "raw_hash", "occurrence")
"""One row per occurrence: identical raw records met twice are two rows; the same occurrence
written again (a resume re-emits it) is one."""


def _record_columns(table: str) -> list[Column | UniqueConstraint]:
    """Columns of a table of records judged by the validators (dead letters, quality flags)."""
    return [
        Column(
            "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        Column("run_id", String(_NAME), nullable=False),
        Column("source", String(_NAME), nullable=False),
        Column("symbol", String(_SYMBOL)),
        Column("reason", String(_NAME), nullable=False),
        Column("detail", Text, nullable=False),
        Column("raw", Text, nullable=False),
        Column("raw_hash", String(64), nullable=False, comment="sha256 of raw, hex"),
        Column("ts", BigInteger, comment="event time when it could be read, ns"),
        Column("recorded_at", BigInteger, nullable=False, comment="first write, ns"),
        Column(
            "occurrence",
            String(160),
            nullable=False,
            server_default="",
            comment="where the producer met it (file row, stream row, Kafka offset, frame)",
        ),
        UniqueConstraint(*JUDGED_KEY, name=f"uq_{table}_occurrence"),
    ]


dead_letters = Table("dead_letters", metadata, *_record_columns("dead_letters"))

quality_flags = Table(
    "quality_flags",
    metadata,
    *_record_columns("quality_flags"),
    comment="records kept despite a doubt (a price outlier under outlier_policy: flag)",
)

late_trades = Table(
    "late_trades",
    metadata,
    Column("run_id", String(_NAME), primary_key=True),
    Column("symbol", String(_SYMBOL), primary_key=True),
    Column("trade_key", String(64), primary_key=True, comment="sha256(ts|price|amount|trade_id)"),
    Column("ts", BigInteger, nullable=False),
    Column("price", Double, nullable=False),
    Column("amount", Double, nullable=False),
    Column("trade_id", String(_NAME)),
    Column("watermark", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(_NAME), primary_key=True),
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger),
    Column("command", String(_NAME), nullable=False),
    Column("args", JSON),
    Column("summary", JSON),
)

_RESERVED_FEATURE_NAMES = frozenset({"symbol", "timeframe", "ts", "close", "extra"})
_TS = pl.Datetime("ns", "UTC")


# --- writing ---------------------------------------------------------------------------------


def _nullable(values: np.ndarray) -> list[float | None]:
    """Float column → Python list with NaN replaced by ``None`` (SQL ``NULL``)."""
    mask = np.isnan(values)
    if not mask.any():
        return values.tolist()
    boxed = values.astype(object)
    boxed[mask] = None
    return boxed.tolist()


def _check_lengths(where: str, expected: int, columns: Mapping[str, np.ndarray]) -> None:
    for name, values in columns.items():
        if len(values) != expected:
            raise ValueError(
                f"{where}: column {name!r} has {len(values)} values, expected {expected} "
                "(one per candle)"
            )


def _candle_columns(batch: CandleBatch) -> dict[str, np.ndarray]:
    return {
        "ts": batch.ts_ns,
        "open": batch.open,
        "high": batch.high,
        "low": batch.low,
        "close": batch.close,
        "volume": batch.volume,
        "trades": batch.trades,
    }


def candle_rows(batch: CandleBatch) -> list[dict[str, Any]]:
    """One ``candles`` row dict per candle, built column-wise from the batch's arrays.

    >>> b = CandleBatch.from_columns("X/Y", "5m", [0], [1.0], [2.0], [0.5], [1.5], [7.0], [3])
    >>> candle_rows(b)[0]["trades"], candle_rows(b)[0]["timeframe"]
    (3, '5m')
    """
    n = len(batch)
    columns = _candle_columns(batch)
    _check_lengths(f"CandleBatch {batch.symbol} {batch.timeframe.value}", n, columns)
    values = [
        [batch.symbol] * n,
        [batch.timeframe.value] * n,
        batch.ts_ns.tolist(),
        *(_nullable(columns[c]) for c in ("open", "high", "low", "close", "volume")),
        batch.trades.tolist(),
        [batch.source] * n,
    ]
    names = [c.name for c in candles.columns]
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def write_candles(conn_or_engine: Connection | Engine, batches: Iterable[CandleBatch]) -> int:
    """Upsert candles on ``(symbol, timeframe, ts)``; returns the number of rows sent.

    Writing the same candles again (a replay after recovery) overwrites them; rows are applied
    in order, so within one call the last version of a bar wins.

    >>> from connectors.store.engine import open_store
    >>> engine = open_store("sqlite://")
    >>> b = CandleBatch.from_columns("A/B", "1m", [0, 0], [1, 1], [2, 3], [1, 1], [2, 3], [1, 2])
    >>> write_candles(engine, [b]), read_candles(engine, symbol="A/B")["high"].to_list()
    (2, [3.0])
    """
    rows = [row for batch in batches for row in candle_rows(batch)]
    return upsert(conn_or_engine, candles, rows, _BAR_KEY)


def feature_rows(batch: FeatureBatch) -> list[dict[str, Any]]:
    """One ``features`` row dict per candle: known indicators as columns, others in ``extra``.

    Rows carry only the indicators the batch has (plus ``close``), so an upsert leaves the
    other columns of an existing row alone; ``extra``, when present, replaces the stored one.

    >>> c = CandleBatch.from_columns("X/Y", "1m", [0, 60], [1, 1], [2, 2], [1, 1], [2, 3], [1, 1])
    >>> rows = feature_rows(FeatureBatch(c, {"rsi_14": np.array([np.nan, 55.0]),
    ...                                      "my_score": np.array([0.5, np.nan])}))
    >>> list(rows[0])
    ['symbol', 'timeframe', 'ts', 'close', 'rsi_14', 'extra']
    >>> rows[0]["rsi_14"], rows[1]["rsi_14"], rows[0]["extra"], rows[1]["extra"]
    (None, 55.0, {'my_score': 0.5}, {'my_score': None})
    """
    candle_batch = batch.candles
    n = len(candle_batch)
    where = f"FeatureBatch {candle_batch.symbol} {candle_batch.timeframe.value}"
    _check_lengths(where, n, {"ts": candle_batch.ts_ns, "close": candle_batch.close})
    _check_lengths(where, n, batch.columns)
    clashes = sorted(_RESERVED_FEATURE_NAMES.intersection(batch.columns))
    if clashes:
        raise ValueError(f"{where}: feature name(s) {clashes} clash with the table's own columns")
    values: dict[str, list[Any]] = {
        "symbol": [candle_batch.symbol] * n,
        "timeframe": [candle_batch.timeframe.value] * n,
        "ts": candle_batch.ts_ns.tolist(),
        "close": _nullable(candle_batch.close),
    }
    for name in DEFAULT_FEATURES:
        if name in batch.columns:
            values[name] = _nullable(np.asarray(batch.columns[name], np.float64))
    extra_names = sorted(set(batch.columns).difference(DEFAULT_FEATURES))
    if extra_names:
        extra_columns = [_nullable(np.asarray(batch.columns[k], np.float64)) for k in extra_names]
        values["extra"] = [
            dict(zip(extra_names, row, strict=True)) for row in zip(*extra_columns, strict=True)
        ]
    names = list(values)
    return [dict(zip(names, row, strict=True)) for row in zip(*values.values(), strict=True)]


def write_features(conn_or_engine: Connection | Engine, batches: Iterable[FeatureBatch]) -> int:
    """Upsert feature rows on ``(symbol, timeframe, ts)``; NaN is stored as ``NULL``.

    Only the indicators a batch carries are written: batches with different indicator sets
    for the same bars complete each other.

    >>> from connectors.store.engine import open_store
    >>> engine = open_store("sqlite://")
    >>> c = CandleBatch.from_columns("A/B", "1m", [0], [1.0], [2.0], [1.0], [2.0], [1.0])
    >>> write_features(engine, [FeatureBatch(c, {"sma_20": np.array([np.nan])}),
    ...                         FeatureBatch(c, {"rsi_14": np.array([48.5])})])
    2
    >>> read_features(engine).select("sma_20", "rsi_14").row(0)
    (nan, 48.5)
    """
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for batch in batches:
        rows = feature_rows(batch)
        if rows:
            by_columns.setdefault(tuple(rows[0]), []).extend(rows)
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.begin() as conn:
            return sum(upsert(conn, features, rows, _BAR_KEY) for rows in by_columns.values())
    return sum(upsert(conn_or_engine, features, rows, _BAR_KEY) for rows in by_columns.values())


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def storable_text(text: str) -> str:
    r"""Text any store accepts: NUL and lone surrogates (undecodable input) become escapes.

    >>> storable_text("ok \x00 \udcff")
    'ok \\x00 \\udcff'
    """
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def write_dead_letters(
    conn_or_engine: Connection | Engine, run_id: str, letters: Iterable[DeadLetter]
) -> int:
    """Record dead letters once per ``(run_id, source, reason, sha256(raw), occurrence)``;
    returns rows sent.

    ``raw`` and ``detail`` are stored as given, except NUL characters and lone surrogates
    (undecodable bytes), which are escaped (see :func:`storable_text`); the dedupe hash is taken
    on the original text.

    >>> from connectors.store.engine import open_store
    >>> engine = open_store("sqlite://")
    >>> bad = DeadLetter(source="replay", reason="non_positive_price", detail="price=-1",
    ...                  raw='{"price": -1}', occurrence="trade #7")
    >>> again = bad.model_copy(update={"occurrence": "trade #9"})  # the same row, met again
    >>> write_dead_letters(engine, "r1", [bad, bad, again]), len(read_dead_letters(engine))
    (3, 2)
    """
    return _write_judged(conn_or_engine, dead_letters, run_id, letters)


def write_quality_flags(
    conn_or_engine: Connection | Engine, run_id: str, flags: Iterable[QualityFlag]
) -> int:
    """Record quality flags once per occurrence (see :func:`write_dead_letters`); rows sent.

    >>> from connectors.store.engine import open_store
    >>> engine = open_store("sqlite://")
    >>> flag = QualityFlag(source="replay", reason="price_outlier", detail="z 12 > 10; kept",
    ...                    raw='{"price": 1.0}')
    >>> write_quality_flags(engine, "r1", [flag, flag]), len(read_quality_flags(engine))
    (2, 1)
    """
    return _write_judged(conn_or_engine, quality_flags, run_id, flags)


def _write_judged(
    conn_or_engine: Connection | Engine,
    table: Table,
    run_id: str,
    records: Iterable[DeadLetter | QualityFlag],
) -> int:
    now = time.time_ns()
    rows = [
        {
            "run_id": run_id,
            "source": record.source,
            "symbol": record.symbol,
            "reason": record.reason,
            "detail": storable_text(record.detail),
            "raw": storable_text(record.raw),
            "raw_hash": _sha256(record.raw),
            "ts": None if record.ts is None else datetime_to_ns(record.ts),
            "recorded_at": now,
            "occurrence": record.occurrence,
        }
        for record in records
    ]
    return upsert(conn_or_engine, table, rows, JUDGED_KEY, update=False)


def late_trade_key(trade: LateTrade) -> str:
    """Dedupe key of a late trade within its run and symbol (identical trades collapse).

    >>> from datetime import datetime, UTC
    >>> t = LateTrade(symbol="A/B", ts=datetime(2024, 1, 1, tzinfo=UTC), price=1.0, amount=2.0,
    ...               watermark=datetime(2024, 1, 1, 0, 1, tzinfo=UTC))
    >>> len(late_trade_key(t))
    64
    """
    return _sha256(f"{datetime_to_ns(trade.ts)}|{trade.price!r}|{trade.amount!r}|{trade.trade_id}")


def write_late(
    conn_or_engine: Connection | Engine, run_id: str, trades: Iterable[LateTrade]
) -> int:
    """Record trades that arrived behind the watermark, once each; returns rows sent.

    >>> from datetime import datetime, UTC
    >>> from connectors.store.engine import open_store
    >>> engine = open_store("sqlite://")
    >>> t = LateTrade(symbol="A/B", ts=datetime(2024, 1, 1, tzinfo=UTC), price=1.0, amount=2.0,
    ...               trade_id="7", watermark=datetime(2024, 1, 1, 0, 1, tzinfo=UTC))
    >>> write_late(engine, "r1", [t]), write_late(engine, "r1", [t]), len(read_late(engine))
    (1, 1, 1)
    """
    rows = [
        {
            "run_id": run_id,
            "symbol": trade.symbol,
            "trade_key": late_trade_key(trade),
            "ts": datetime_to_ns(trade.ts),
            "price": trade.price,
            "amount": trade.amount,
            "trade_id": trade.trade_id,
            "watermark": datetime_to_ns(trade.watermark),
        }
        for trade in trades
    ]
    return upsert(
        conn_or_engine, late_trades, rows, ("run_id", "symbol", "trade_key"), update=False
    )


def new_run_id() -> str:
    """A sortable, unique run id: UTC start time plus a random suffix.

    >>> len(new_run_id().split("-")[1])
    8
    """
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}"


def start_run(
    conn_or_engine: Connection | Engine,
    command: str,
    args: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> str:
    """Register a run and return its id; restarting a known run id keeps its first record.

    >>> from connectors.store.engine import open_store
    >>> engine = open_store("sqlite://")
    >>> run_id = start_run(engine, "run", {"symbols": ["A/B"]}, run_id="r1")
    >>> finish_run(engine, run_id, {"candles": 10})
    >>> read_runs(engine).select("run_id", "command", "summary").row(0)
    ('r1', 'run', {'candles': 10})
    """
    run_id = run_id or new_run_id()
    row = {
        "run_id": run_id,
        "started_at": time.time_ns(),
        "finished_at": None,
        "command": command,
        "args": dict(args or {}),
        "summary": None,
    }
    upsert(conn_or_engine, runs, [row], ("run_id",), update=False)
    return run_id


def finish_run(
    conn_or_engine: Connection | Engine, run_id: str, summary: Mapping[str, Any] | None = None
) -> None:
    """Stamp a run's end time and summary; an unknown ``run_id`` is an error."""
    stmt = (
        update(runs)
        .where(runs.c.run_id == run_id)
        .values(finished_at=time.time_ns(), summary=dict(summary or {}))
    )
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.begin() as conn:
            updated = conn.execute(stmt).rowcount
    else:
        updated = conn_or_engine.execute(stmt).rowcount
    if updated != 1:
        raise KeyError(f"run_id {run_id!r} is not in the store; call start_run first")


# --- reading ---------------------------------------------------------------------------------


def _as_ns(value: datetime | int | None, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return datetime_to_ns(value)
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)
    raise TypeError(f"{name} must be an aware datetime or int nanoseconds, got {value!r}")


def _frame(
    conn_or_engine: Connection | Engine, stmt: Any, schema: Mapping[str, Any]
) -> pl.DataFrame:
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            rows = conn.execute(stmt).all()
    else:
        rows = conn_or_engine.execute(stmt).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=dict(schema), orient="row")


def _with_datetimes(frame: pl.DataFrame, *names: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(n).cast(_TS) for n in names)


def _bar_filters(table: Table, symbol: str | None, timeframe: str | None, start: Any, end: Any):
    conditions = []
    if symbol is not None:
        conditions.append(table.c.symbol == symbol)
    if timeframe is not None:
        conditions.append(table.c.timeframe == str(timeframe))
    if (start_ns := _as_ns(start, "start")) is not None:
        conditions.append(table.c.ts >= start_ns)
    if (end_ns := _as_ns(end, "end")) is not None:
        conditions.append(table.c.ts < end_ns)
    return and_(true(), *conditions)


_CANDLE_SCHEMA = {
    "symbol": pl.String,
    "timeframe": pl.String,
    "ts": pl.Int64,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
    "trades": pl.Int64,
    "source": pl.String,
}


def _candle_frame(conn_or_engine: Connection | Engine, stmt: Any) -> pl.DataFrame:
    frame = _frame(conn_or_engine, stmt, _CANDLE_SCHEMA)
    prices = ["open", "high", "low", "close", "volume"]
    return _with_datetimes(frame.with_columns(pl.col(prices).fill_null(float("nan"))), "ts")


def read_candles(
    conn_or_engine: Connection | Engine,
    symbol: str | None = None,
    timeframe: str | None = None,
    start: datetime | int | None = None,
    end: datetime | int | None = None,
) -> pl.DataFrame:
    """Candles ordered by symbol, timeframe and time; ``start`` inclusive, ``end`` exclusive.

    ``start``/``end`` are aware datetimes or int nanoseconds; ``ts`` comes back as
    ``Datetime("ns", "UTC")`` (``.dt.epoch("ns")`` gives the stored integers).

    >>> from connectors.store.engine import open_store
    >>> engine = open_store("sqlite://")
    >>> minute = 60_000_000_000
    >>> b = CandleBatch.from_columns("A/B", "1m", [0, minute, 2 * minute], [1, 2, 3], [1, 2, 3],
    ...                              [1, 2, 3], [1, 2, 3], [0, 0, 0])
    >>> _ = write_candles(engine, [b])
    >>> read_candles(engine, start=minute, end=2 * minute).select("ts", "close").rows()
    [(datetime.datetime(1970, 1, 1, 0, 1, tzinfo=zoneinfo.ZoneInfo(key='UTC')), 2.0)]
    """
    stmt = (
        select(candles)
        .where(_bar_filters(candles, symbol, timeframe, start, end))
        .order_by(candles.c.symbol, candles.c.timeframe, candles.c.ts)
    )
    return _candle_frame(conn_or_engine, stmt)


def read_features(
    conn_or_engine: Connection | Engine,
    symbol: str | None = None,
    timeframe: str | None = None,
    start: datetime | int | None = None,
    end: datetime | int | None = None,
) -> pl.DataFrame:
    """Feature rows with ``NULL`` read back as NaN; ``extra`` features become columns too.

    >>> from connectors.store.engine import open_store
    >>> engine = open_store("sqlite://")
    >>> c = CandleBatch.from_columns("A/B", "1m", [0], [1.0], [2.0], [1.0], [2.0], [1.0])
    >>> _ = write_features(engine, [FeatureBatch(c, {"rsi_14": np.array([40.0]),
    ...                                              "skew": np.array([0.25])})])
    >>> read_features(engine).select("close", "rsi_14", "ema_12", "skew").row(0)
    (2.0, 40.0, nan, 0.25)
    """
    stmt = (
        select(features)
        .where(_bar_filters(features, symbol, timeframe, start, end))
        .order_by(features.c.symbol, features.c.timeframe, features.c.ts)
    )
    schema = {
        "symbol": pl.String,
        "timeframe": pl.String,
        "ts": pl.Int64,
        "close": pl.Float64,
        **dict.fromkeys(DEFAULT_FEATURES, pl.Float64),
        "extra": pl.Object,
    }
    frame = _frame(conn_or_engine, stmt, schema)
    extras = frame["extra"].to_list()
    frame = frame.drop("extra")
    extra_names = sorted({name for item in extras if item for name in item})
    if extra_names:
        frame = frame.with_columns(
            pl.Series(name, [(item or {}).get(name) for item in extras], dtype=pl.Float64)
            for name in extra_names
        )
    float_names = ["close", *DEFAULT_FEATURES, *extra_names]
    frame = frame.with_columns(pl.col(float_names).fill_null(float("nan")))
    return _with_datetimes(frame, "ts")


def latest_candle_per_symbol(conn_or_engine: Connection | Engine) -> pl.DataFrame:
    """The most recent candle of every (symbol, timeframe) pair.

    >>> from connectors.store.engine import open_store
    >>> engine = open_store("sqlite://")
    >>> b = CandleBatch.from_columns("A/B", "1m", [0, 60_000_000_000], [1, 2], [1, 2], [1, 2],
    ...                              [1, 2], [0, 0])
    >>> latest_candle_per_symbol(engine)["close"].to_list()
    []
    >>> _ = write_candles(engine, [b])
    >>> latest_candle_per_symbol(engine)["close"].to_list()
    [2.0]
    """
    last = (
        select(candles.c.symbol, candles.c.timeframe, func.max(candles.c.ts).label("ts"))
        .group_by(candles.c.symbol, candles.c.timeframe)
        .subquery()
    )
    stmt = (
        select(candles)
        .join(
            last,
            and_(
                candles.c.symbol == last.c.symbol,
                candles.c.timeframe == last.c.timeframe,
                candles.c.ts == last.c.ts,
            ),
        )
        .order_by(candles.c.symbol, candles.c.timeframe)
    )
    return _candle_frame(conn_or_engine, stmt)


def candle_inventory(conn_or_engine: Connection | Engine) -> pl.DataFrame:
    """What the store holds: rows and first/last open time per (symbol, timeframe).

    >>> from connectors.store.engine import open_store
    >>> engine = open_store("sqlite://")
    >>> b = CandleBatch.from_columns("A/B", "1h", [0, 3_600_000_000_000], [1, 2], [1, 2], [1, 2],
    ...                              [1, 2], [0, 0])
    >>> _ = write_candles(engine, [b])
    >>> candle_inventory(engine).select("symbol", "timeframe", "rows").rows()
    [('A/B', '1h', 2)]
    """
    stmt = (
        select(
            candles.c.symbol,
            candles.c.timeframe,
            func.count().label("rows"),
            func.min(candles.c.ts).label("first_ts"),
            func.max(candles.c.ts).label("last_ts"),
        )
        .group_by(candles.c.symbol, candles.c.timeframe)
        .order_by(candles.c.symbol, candles.c.timeframe)
    )
    schema = {
        "symbol": pl.String,
        "timeframe": pl.String,
        "rows": pl.Int64,
        "first_ts": pl.Int64,
        "last_ts": pl.Int64,
    }
    return _with_datetimes(_frame(conn_or_engine, stmt, schema), "first_ts", "last_ts")


def read_dead_letters(
    conn_or_engine: Connection | Engine, run_id: str | None = None
) -> pl.DataFrame:
    """Dead letters in recording order, optionally of one run."""
    return _read_judged(conn_or_engine, dead_letters, run_id)


def read_quality_flags(
    conn_or_engine: Connection | Engine, run_id: str | None = None
) -> pl.DataFrame:
    """Quality flags (records kept despite a doubt) in recording order, optionally of one run."""
    return _read_judged(conn_or_engine, quality_flags, run_id)


def _read_judged(
    conn_or_engine: Connection | Engine, table: Table, run_id: str | None
) -> pl.DataFrame:
    stmt = select(table).order_by(table.c.id)
    if run_id is not None:
        stmt = stmt.where(table.c.run_id == run_id)
    schema = {c.name: _polars_type(c) for c in table.columns}
    return _with_datetimes(_frame(conn_or_engine, stmt, schema), "ts", "recorded_at")


def read_late(conn_or_engine: Connection | Engine, run_id: str | None = None) -> pl.DataFrame:
    """Late trades ordered by symbol and time, optionally of one run."""
    stmt = select(late_trades).order_by(late_trades.c.symbol, late_trades.c.ts)
    if run_id is not None:
        stmt = stmt.where(late_trades.c.run_id == run_id)
    schema = {c.name: _polars_type(c) for c in late_trades.columns}
    return _with_datetimes(_frame(conn_or_engine, stmt, schema), "ts", "watermark")


def read_runs(conn_or_engine: Connection | Engine) -> pl.DataFrame:
    """Runs ordered by start time; ``args`` and ``summary`` stay Python dicts."""
    stmt = select(runs).order_by(runs.c.started_at)
    schema = {c.name: _polars_type(c) for c in runs.columns}
    return _with_datetimes(_frame(conn_or_engine, stmt, schema), "started_at", "finished_at")


def _polars_type(column: Column) -> Any:
    if isinstance(column.type, BigInteger | Integer):
        return pl.Int64
    if isinstance(column.type, Double):
        return pl.Float64
    if isinstance(column.type, JSON):
        return pl.Object
    return pl.String


def row_counts(conn_or_engine: Connection | Engine) -> dict[str, int]:
    """Rows per market-data table; tables the store does not have are left out.

    >>> from connectors.store.engine import open_store
    >>> row_counts(open_store("sqlite://"))
    {'candles': 0, 'features': 0, 'dead_letters': 0, 'late_trades': 0, 'runs': 0}
    """
    present = set(inspect(conn_or_engine).get_table_names())
    tables = [t for t in (candles, features, dead_letters, late_trades, runs) if t.name in present]
    stmts = {t.name: select(func.count()).select_from(t) for t in tables}
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            return {name: int(conn.execute(stmt).scalar_one()) for name, stmt in stmts.items()}
    return {name: int(conn_or_engine.execute(stmt).scalar_one()) for name, stmt in stmts.items()}
