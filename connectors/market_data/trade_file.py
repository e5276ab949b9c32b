"""A fetched trades file (Parquet or CSV) that ``quorum run --data`` reads; its own resume point.

Columns ``symbol, ts, trade_id, price, amount, side``; a re-fetched trade (same symbol and id)
replaces its row, so overlapping pages and re-runs are harmless. Rewritten after every page.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
>>> f = TradeFile(path)
>>> f.write("AAPL", [(2_000, "7", 10.0, 1.0, None), (1_000, "6", 9.5, 2.0, "buy")])
2
>>> f.write("AAPL", [(2_000, "7", 10.0, 1.0, None)])
0
>>> len(TradeFile(path).frame), TradeFile(path).last_ts_ns()
(2, {'AAPL': 2000})
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from connectors.market_data.providers import TradeFileRow

_SCHEMA = {
    "symbol": pl.String,
    "ts": pl.Datetime("ns", "UTC"),
    "trade_id": pl.String,
    "price": pl.Float64,
    "amount": pl.Float64,
    "side": pl.String,
}


class TradeFile:
    """Trades per symbol, deduplicated by trade id, sorted by time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frame = self._read() if path.exists() else pl.DataFrame(schema=_SCHEMA)

    def last_ts_ns(self) -> dict[str, int]:
        last = self.frame.group_by("symbol").agg(pl.col("ts").max().dt.epoch("ns"))
        return {str(s): int(ts) for s, ts in last.iter_rows()}

    def write(self, symbol: str, rows: list[TradeFileRow]) -> int:
        """Add ``rows`` (a trade already held is replaced); returns how many were new."""
        if not rows:
            return 0
        before = len(self.frame)
        ts, ids, prices, amounts, sides = zip(*rows, strict=True)
        new = pl.DataFrame(
            {
                "symbol": [symbol] * len(rows),
                "ts": pl.Series(ts, dtype=pl.Int64)
                .cast(pl.Datetime("ns"))
                .dt.replace_time_zone("UTC"),
                "trade_id": list(ids),
                "price": list(prices),
                "amount": list(amounts),
                "side": list(sides),
            },
            schema=_SCHEMA,
        )
        self.frame = (
            pl.concat([self.frame, new])
            .unique(["symbol", "trade_id"], keep="last", maintain_order=True)
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
            frame = pl.read_csv(self.path, schema_overrides={"trade_id": pl.String})
            frame = frame.with_columns(
                pl.col("ts").str.to_datetime(time_unit="ns", time_zone="UTC")
            )
        else:
            frame = pl.read_parquet(self.path)
        missing = [c for c in _SCHEMA if c not in frame.columns]
        if missing:
            raise ValueError(f"{self.path}: not a fetched trades file (missing {missing})")
        return frame.select(list(_SCHEMA)).cast(_SCHEMA)  # type: ignore[arg-type]
