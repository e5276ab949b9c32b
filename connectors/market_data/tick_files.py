"""Fetched trades and quotes files (Parquet or CSV) that ``quorum run --data`` reads.

Each file is its own resume point: the newest time per symbol is where a re-run starts. A row
fetched again replaces its old one — trades are keyed by (symbol, trade id); quotes, which
carry no id, by the whole row — so overlapping pages and re-runs are harmless. The file is
rewritten after every page.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
>>> f = TradeFile(path)
>>> f.write("AAPL", [(2_000, "7", 10.0, 1.0, None), (1_000, "6", 9.5, 2.0, "buy")])
2
>>> f.write("AAPL", [(2_000, "7", 10.0, 1.0, None)])
0
>>> len(TradeFile(path).frame), TradeFile(path).last_ts_ns()
(2, {'AAPL': 2000})
>>> q = QuoteFile(path.with_name("q.csv"))
>>> q.write("EUR/USD", [(5, 1.0, 1.1, 2.0, 3.0), (5, 1.0, 1.1, 2.0, 3.0), (6, 1.0, 1.2, 1.0, 1.0)])
2
>>> QuoteFile(path.with_name("q.csv")).frame.columns
['symbol', 'ts', 'bid', 'ask', 'bid_size', 'ask_size']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

_TS = pl.Datetime("ns", "UTC")


class TickFile:
    """Rows of one kind per symbol, deduplicated by ``key``, sorted by time."""

    schema: ClassVar[dict[str, Any]]
    key: ClassVar[tuple[str, ...]]
    kind: ClassVar[str]

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frame = self._read() if path.exists() else pl.DataFrame(schema=self.schema)

    def last_ts_ns(self) -> dict[str, int]:
        last = self.frame.group_by("symbol").agg(pl.col("ts").max().dt.epoch("ns"))
        return {str(s): int(ts) for s, ts in last.iter_rows()}

    def write(self, symbol: str, rows: Sequence[tuple[Any, ...]]) -> int:
        """Add ``rows`` (``ts_ns`` first, then the columns after ``ts``); returns how many
        rows the file did not hold yet."""
        if not rows:
            return 0
        before = len(self.frame)
        names = [c for c in self.schema if c not in ("symbol", "ts")]
        columns = list(zip(*rows, strict=True))
        new = pl.DataFrame(
            {
                "symbol": [symbol] * len(rows),
                "ts": pl.Series(columns[0], dtype=pl.Int64).cast(_TS),
                **{name: list(values) for name, values in zip(names, columns[1:], strict=True)},
            },
            schema=self.schema,
        )
        self.frame = (
            pl.concat([self.frame, new])
            .unique(list(self.key), keep="last", maintain_order=True)
            .sort("symbol", "ts", maintain_order=True)
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix.lower() == ".csv":
            self.frame.write_csv(self.path)
        else:
            self.frame.write_parquet(self.path)
        return len(self.frame) - before

    def _read(self) -> pl.DataFrame:
        if self.path.suffix.lower() == ".csv":
            text = {c: pl.String for c, t in self.schema.items() if t == pl.String}
            frame = pl.read_csv(self.path, schema_overrides=text)
            frame = frame.with_columns(
                pl.col("ts").str.to_datetime(time_unit="ns", time_zone="UTC")
            )
        else:
            frame = pl.read_parquet(self.path)
        missing = [c for c in self.schema if c not in frame.columns]
        if missing:
            raise ValueError(f"{self.path}: not a fetched {self.kind} file (missing {missing})")
        return frame.select(list(self.schema)).cast(self.schema)


class TradeFile(TickFile):
    """``symbol, ts, trade_id, price, amount, side`` — rows ``(ts_ns, id, price, amount, side)``."""

    kind = "trades"
    key = ("symbol", "trade_id")
    schema: ClassVar[dict[str, Any]] = {
        "symbol": pl.String,
        "ts": _TS,
        "trade_id": pl.String,
        "price": pl.Float64,
        "amount": pl.Float64,
        "side": pl.String,
    }


class QuoteFile(TickFile):
    """``symbol, ts, bid, ask, bid_size, ask_size`` — rows ``(ts_ns, bid, ask, bid_size,
    ask_size)``; :func:`connectors.files.quotes.load_quotes` builds candles of them."""

    kind = "quotes"
    key = ("symbol", "ts", "bid", "ask", "bid_size", "ask_size")
    schema: ClassVar[dict[str, Any]] = {
        "symbol": pl.String,
        "ts": _TS,
        "bid": pl.Float64,
        "ask": pl.Float64,
        "bid_size": pl.Float64,
        "ask_size": pl.Float64,
    }
