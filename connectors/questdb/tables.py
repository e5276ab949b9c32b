"""QuestDB's time-series tables: columns, designated timestamp, partitioning and dedup keys.

Every table has the designated timestamp ``ts``, is ``PARTITION BY DAY`` and ``WAL``, and
declares ``DEDUP UPSERT KEYS`` on its natural key (``ts`` plus the key columns): a row written
twice (a replay after a crash) replaces itself, so the table holds it once. Low-cardinality
labels are ``SYMBOL`` columns; identifiers and JSON are ``VARCHAR``. Money is ``DOUBLE`` here:
QuestDB holds the analytics copy, the ledger store keeps the exact ``Decimal`` of every fill and
equity point.

>>> print(TABLES["candles"].ddl())  # doctest: +NORMALIZE_WHITESPACE
CREATE TABLE IF NOT EXISTS candles (ts TIMESTAMP, symbol SYMBOL, timeframe SYMBOL,
source SYMBOL, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE, trades LONG)
TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, symbol, timeframe);
"""

from __future__ import annotations

from dataclasses import dataclass

from operators.indicators.bank import DEFAULT_FEATURES

DESIGNATED = "ts"
"""The designated timestamp column of every table (sent as the ILP row timestamp, in ns)."""


@dataclass(frozen=True, slots=True)
class QuestTable:
    """One table: ``symbols`` are SYMBOL columns (ILP tags), ``columns`` the other fields by
    QuestDB type, ``keys`` the dedup key besides ``ts``."""

    name: str
    symbols: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    keys: tuple[str, ...]

    def __post_init__(self) -> None:
        known = set(self.symbols) | {name for name, _ in self.columns}
        missing = [k for k in self.keys if k not in known]
        if missing:
            raise ValueError(f"table {self.name}: dedup key(s) {missing} are not columns")

    @property
    def upsert_keys(self) -> tuple[str, ...]:
        return (DESIGNATED, *self.keys)

    def ddl(self) -> str:
        """``CREATE TABLE IF NOT EXISTS …``: applying it again changes nothing."""
        columns = [
            f"{DESIGNATED} TIMESTAMP",
            *(f"{name} SYMBOL" for name in self.symbols),
            *(f"{name} {kind}" for name, kind in self.columns),
        ]
        return (
            f"CREATE TABLE IF NOT EXISTS {self.name} ({', '.join(columns)}) "
            f"TIMESTAMP({DESIGNATED}) PARTITION BY DAY WAL "
            f"DEDUP UPSERT KEYS({', '.join(self.upsert_keys)});"
        )


def _doubles(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, "DOUBLE") for name in names)


_MONEY_OF_FILLS = ("quantity", "price", "fee", "mid_price")
_MONEY_OF_EQUITY = (
    "equity",
    "cash",
    "realized_pnl",
    "unrealized_pnl",
    "fees_paid",
    "gross_exposure",
    "net_exposure",
)

TABLES: dict[str, QuestTable] = {
    t.name: t
    for t in (
        QuestTable(
            "candles",
            symbols=("symbol", "timeframe", "source"),
            columns=(*_doubles("open", "high", "low", "close", "volume"), ("trades", "LONG")),
            keys=("symbol", "timeframe"),
        ),
        QuestTable(
            "features",
            symbols=("symbol", "timeframe"),
            columns=_doubles("close", *DEFAULT_FEATURES),
            keys=("symbol", "timeframe"),
        ),
        QuestTable(
            "signals",
            symbols=("asset", "origin", "timeframe", "direction"),
            columns=(
                ("signal_id", "VARCHAR"),
                ("confidence", "DOUBLE"),
                ("expires_at", "TIMESTAMP"),
                ("meta", "VARCHAR"),
            ),
            keys=("signal_id",),
        ),
        QuestTable(
            "fused_signals",
            symbols=("asset", "direction", "decision"),
            columns=(
                ("fused_id", "VARCHAR"),
                *_doubles("score", "consensus"),
                ("conflict", "BOOLEAN"),
                ("veto", "VARCHAR"),
                ("timeframe_scores", "VARCHAR"),
                ("contributions", "VARCHAR"),
                ("reasons", "VARCHAR"),
            ),
            keys=("fused_id",),
        ),
        QuestTable(
            "fills",
            symbols=("run_id", "portfolio", "asset", "side", "liquidity"),
            columns=(
                ("fill_id", "VARCHAR"),
                ("order_id", "VARCHAR"),
                *_doubles(*_MONEY_OF_FILLS, "slippage_bps"),
            ),
            keys=("run_id", "portfolio", "fill_id"),
        ),
        QuestTable(
            "equity",
            symbols=("run_id", "portfolio"),
            columns=(
                *_doubles(*_MONEY_OF_EQUITY),
                ("exposure", "VARCHAR"),
                ("open_positions", "LONG"),
                ("drawdown_pct", "DOUBLE"),
            ),
            keys=("run_id", "portfolio"),
        ),
    )
}
"""The six time-series tables, by name."""


def ddl_statements() -> list[str]:
    """Every table's ``CREATE TABLE IF NOT EXISTS``, in a stable order."""
    return [table.ddl() for table in TABLES.values()]
