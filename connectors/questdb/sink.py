"""Bytewax sink writing the time series to QuestDB with the official client (ILP over HTTP).

Each worker owns one :class:`questdb.Sender` built from the configuration string (auto-flush by
rows and interval). A batch is written table by table, and each table's rows are flushed before
the next table starts, so every batch is on the server when ``write_batch`` returns: Bytewax
closes an epoch (and takes its snapshot) only after its batches are written, so a resume never
skips a row. Idempotent: every table declares ``DEDUP UPSERT KEYS`` on its natural key (see
:mod:`connectors.questdb.tables`), so the rows a resumed flow sends again replace themselves.
A refusal of the server stops the flow with :class:`QuestDBWriteError` naming the table.

The tables are created (``CREATE TABLE IF NOT EXISTS``) when the first worker of a process
builds its partition.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from questdb import QuestDBError, Sender, TimestampNanos

from connectors.questdb.config import QuestDBConfig
from connectors.questdb.ddl import apply_ddl
from connectors.questdb.rows import QuestRow, rows_of
from connectors.questdb.tables import TABLES

logger = logging.getLogger(__name__)

_TIMESTAMP_COLUMNS = {
    table.name: frozenset(name for name, kind in table.columns if kind == "TIMESTAMP")
    for table in TABLES.values()
}


class QuestDBWriteError(RuntimeError):
    """QuestDB refused rows (or could not be reached): the flow stops rather than lose them."""


def _by_table(rows: Iterable[QuestRow]) -> dict[str, list[QuestRow]]:
    groups: dict[str, list[QuestRow]] = {}
    for row in rows:
        groups.setdefault(row.table, []).append(row)
    return groups


class QuestDBWriter:
    """Sends rows through one sender, one table at a time; ``sent`` counts rows per table."""

    def __init__(self, config: QuestDBConfig, run_id: str) -> None:
        self.config = config
        self.run_id = run_id
        self.sent: dict[str, int] = {}
        self._sender = Sender.from_conf(config.conf())
        try:
            self._sender.establish()
        except QuestDBError as exc:
            raise QuestDBWriteError(
                f"cannot open a QuestDB sender to {config.http_root}: {exc}"
            ) from None

    def write(self, items: Iterable[Any]) -> dict[str, int]:
        """Write the time-series rows of ``items`` (other items are ignored); rows per table."""
        counts: dict[str, int] = {}
        rows = (row for item in items for row in rows_of(item, self.run_id))
        for table, group in _by_table(rows).items():
            stamped = _TIMESTAMP_COLUMNS[table]
            try:
                for row in group:
                    columns = {
                        name: TimestampNanos(value) if name in stamped else value
                        for name, value in row.columns.items()
                    }
                    self._sender.row(
                        table, symbols=row.symbols, columns=columns, at=TimestampNanos(row.ts_ns)
                    )
                self._sender.flush()
            except QuestDBError as exc:
                raise QuestDBWriteError(
                    f"QuestDB at {self.config.http_root} did not take {len(group)} row(s) of "
                    f"table {table!r}: {exc}. The flow stops rather than drop them."
                ) from None
            counts[table] = len(group)
            self.sent[table] = self.sent.get(table, 0) + len(group)
        return counts

    def close(self) -> None:
        self._sender.close(flush=False)  # every batch was flushed when it was written


class _QuestDBPartition(StatelessSinkPartition[Any]):
    def __init__(self, writer: QuestDBWriter) -> None:
        self._writer = writer

    def write_batch(self, items: list[Any]) -> None:
        counts = self._writer.write(items)
        logger.debug("questdb: %s", counts)

    def close(self) -> None:
        self._writer.close()


class QuestDBSink(DynamicSink[Any]):
    """Bytewax sink: candles, features, signals, fused signals, fills and equity → QuestDB.

    Takes any item (bare or ``(key, value)``); items of other types are skipped. ``run_id``
    labels fills and equity, as in the ledger store; keep it stable across a resume.
    """

    def __init__(self, config: QuestDBConfig, run_id: str) -> None:
        self.config = config
        self.run_id = run_id
        self._tables_ready = False
        self._lock = threading.Lock()

    def ensure_tables(self) -> None:
        """Apply the DDL once per process (idempotent on the server anyway)."""
        with self._lock:
            if not self._tables_ready:
                apply_ddl(self.config)
                self._tables_ready = True

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _QuestDBPartition:
        self.ensure_tables()
        return _QuestDBPartition(QuestDBWriter(self.config, self.run_id))

    def __getstate__(self) -> dict[str, Any]:  # the lock stays behind (multi-process pickling)
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
