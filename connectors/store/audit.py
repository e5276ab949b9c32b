"""The audit log in the store: an append-only hash chain plus its head.

Tables (on the shared :data:`~connectors.store.engine.metadata`):

* ``audit_log``: one row per record — ``seq`` (primary key), ``ts`` (ns since the epoch, UTC),
  ``kind``, ``payload`` (canonical JSON text), ``prev_hash``, ``hash``;
* ``audit_head``: a single row (``id = 1``) holding the last record's ``seq`` and ``hash``, so
  records removed at the end of the chain are detected.

Appends are idempotent, because Bytewax recovery replays outputs: a record whose ``seq`` is
already stored with the same hash is skipped; a *different* record at a stored ``seq`` is an
:class:`AuditConflictError` (two writers, or a diverging replay), never an overwrite. Rows are only
ever inserted; nothing here updates or deletes a record. One writer per store: the flow's audit
sink (a single partition) or, outside a flow, :func:`append_events`.

>>> from datetime import UTC, datetime
>>> from connectors.store.engine import open_store
>>> from operators.audit.chain import AuditEvent
>>> engine = open_store("sqlite://")
>>> t = datetime(2022, 1, 1, tzinfo=UTC)
>>> records = append_events(engine, [AuditEvent("fill", t, {"qty": "1"}),
...                                  AuditEvent("fill", t, {"qty": "2"})])
>>> [r.seq for r in records], read_head(engine) == (1, records[-1].hash)
([0, 1], True)
>>> append_records(engine, records)  # a replay of the same records: nothing new
0
>>> verify_store(engine).message
'audit chain intact: 2 records (records 0..1)'
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from connectors.store.engine import metadata, open_store
from operators.audit.chain import AuditChain, AuditEvent, VerifyResult, canonical_json, verify_chain
from schemas.common import datetime_to_ns, ns_to_datetime
from schemas.records import AuditRecord

logger = logging.getLogger(__name__)

HEAD_ROW_ID = 1

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", BigInteger, nullable=False, comment="event time, ns since the epoch (UTC)"),
    Column("kind", String(64), nullable=False),
    Column("payload", Text, nullable=False, comment="canonical JSON (sorted keys)"),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)


class AuditConflictError(RuntimeError):
    """A different record already holds this place in the chain."""


def _row(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "ts": datetime_to_ns(record.ts),
        "kind": record.kind,
        "payload": canonical_json(record.payload).decode(),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


def _payload(text: str) -> dict[str, Any]:
    """The stored payload; text that is no longer a JSON object is kept so its hash fails."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {"__unreadable_payload__": text}


def _record(row: Any) -> AuditRecord:
    return AuditRecord(
        seq=row.seq,
        ts=ns_to_datetime(row.ts),
        kind=row.kind,
        payload=_payload(row.payload),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _begin(conn_or_engine: Connection | Engine) -> Any:
    if isinstance(conn_or_engine, Engine):
        return conn_or_engine.begin()
    return _Borrowed(conn_or_engine)


class _Borrowed:
    """Use a caller's connection as a context manager without ending its transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        return None


def read_head(conn_or_engine: Connection | Engine) -> tuple[int, str] | None:
    """``(seq, hash)`` of the last record, or ``None`` for an empty log."""
    with _begin(conn_or_engine) as conn:
        row = conn.execute(
            select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == HEAD_ROW_ID)
        ).first()
    return None if row is None else (int(row.seq), str(row.hash))


def append_records(conn_or_engine: Connection | Engine, records: Sequence[AuditRecord]) -> int:
    """Insert chained records (ascending ``seq``) and move the head; returns rows inserted.

    Records already stored with the same hash are skipped; the first record must link to the
    stored record before it (or be seq 0 of an empty log).
    """
    if not records:
        return 0
    inserted = 0
    with _begin(conn_or_engine) as conn:
        seqs = [r.seq for r in records]
        stored = {
            int(row.seq): str(row.hash)
            for row in conn.execute(
                select(audit_log.c.seq, audit_log.c.hash).where(
                    audit_log.c.seq.between(min(seqs) - 1, max(seqs))
                )
            )
        }
        first = records[0]
        if first.seq > 0:
            before = stored.get(first.seq - 1)
            if before is None:
                raise AuditConflictError(
                    f"record {first.seq} cannot be appended: record {first.seq - 1} is not stored"
                )
            if before != first.prev_hash:
                raise AuditConflictError(
                    f"record {first.seq} does not link to the stored record {first.seq - 1}"
                )
        new_rows = []
        for record in records:
            existing = stored.get(record.seq)
            if existing is None:
                new_rows.append(_row(record))
            elif existing != record.hash:
                raise AuditConflictError(
                    f"seq {record.seq} already holds a different record ({existing[:12]}… ≠ "
                    f"{record.hash[:12]}…): refusing to overwrite the audit log"
                )
        if new_rows:
            conn.execute(audit_log.insert(), new_rows)
            inserted = len(new_rows)
        last = records[-1]
        head = conn.execute(
            select(audit_head.c.seq).where(audit_head.c.id == HEAD_ROW_ID)
        ).scalar_one_or_none()
        if head is None:
            conn.execute(
                audit_head.insert(), [{"id": HEAD_ROW_ID, "seq": last.seq, "hash": last.hash}]
            )
        elif last.seq > head:
            conn.execute(
                audit_head.update()
                .where(audit_head.c.id == HEAD_ROW_ID)
                .values(seq=last.seq, hash=last.hash)
            )
    return inserted


def append_events(
    conn_or_engine: Connection | Engine, events: Iterable[AuditEvent]
) -> list[AuditRecord]:
    """Chain ``events`` after the stored head and append them (for writers outside a flow)."""
    with _begin(conn_or_engine) as conn:
        chain = AuditChain.after(read_head(conn))
        records = [chain.append(event) for event in events]
        append_records(conn, records)
    return records


def iter_chain(conn_or_engine: Connection | Engine, batch: int = 10_000) -> Iterator[AuditRecord]:
    """Every stored record in ascending ``seq``, read in pages."""
    last = -1
    while True:
        with _begin(conn_or_engine) as conn:
            rows = conn.execute(
                select(audit_log)
                .where(audit_log.c.seq > last)
                .order_by(audit_log.c.seq)
                .limit(batch)
            ).all()
        if not rows:
            return
        for row in rows:
            yield _record(row)
        last = rows[-1].seq


def tail(conn_or_engine: Connection | Engine, n: int = 20) -> list[AuditRecord]:
    """The last ``n`` records, oldest first."""
    with _begin(conn_or_engine) as conn:
        rows = conn.execute(
            select(audit_log).order_by(audit_log.c.seq.desc()).limit(max(0, n))
        ).all()
    return [_record(row) for row in reversed(rows)]


def has_audit_tables(engine: Engine) -> bool:
    names = set(inspect(engine).get_table_names())
    return {audit_log.name, audit_head.name} <= names


def verify_store(conn_or_engine: Connection | Engine) -> VerifyResult:
    """Verify the whole stored chain against its head (see :func:`verify_chain`)."""
    return verify_chain(iter_chain(conn_or_engine), read_head(conn_or_engine))


# --- Bytewax sink ------------------------------------------------------------------------------


_WRITE_ATTEMPTS = 5


def _content_key(event: AuditEvent) -> tuple[str, int, str]:
    """What makes a stored record the same event: kind, event time and canonical payload."""
    return (event.kind, datetime_to_ns(event.ts), canonical_json(event.payload).decode())


class _AuditPartition(StatefulSinkPartition[AuditEvent, tuple[int, str]]):
    def __init__(self, url: str, resume_state: tuple[int, str] | None) -> None:
        self._engine = open_store(url)
        if resume_state is None:
            self._chain = AuditChain.after(read_head(self._engine))
        else:
            self._chain = AuditChain(*resume_state)

    def write_batch(self, values: list[AuditEvent]) -> None:
        """Append ``values`` after the stored head, in one transaction.

        The flow is not the chain's only writer (the API records review decisions in it too),
        so the partition re-reads the head every batch instead of trusting its own position.
        Records stored after its position that carry the same content as events of this batch
        are the batch written before a crash (a resumed flow replays its outputs): those are
        skipped, so the chain holds every event exactly once. A race with another writer for
        the same seq is retried with the new head.
        """
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                with self._engine.begin() as conn:
                    chain = self._rebased(conn)
                    pending = self._not_yet_stored(conn, values)
                    records = [chain.append(event) for event in pending]
                    written = append_records(conn, records)
            except (AuditConflictError, IntegrityError):
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
                continue
            self._chain = chain
            logger.debug("audit: %d events, %d new records", len(values), written)
            return

    def _rebased(self, conn: Connection) -> AuditChain:
        head = read_head(conn)
        if head is None or head[0] < self._chain.next_seq:
            return AuditChain(self._chain.next_seq, self._chain.prev_hash)
        return AuditChain.after(head)

    def _not_yet_stored(self, conn: Connection, values: list[AuditEvent]) -> list[AuditEvent]:
        rows = conn.execute(
            select(audit_log.c.kind, audit_log.c.ts, audit_log.c.payload).where(
                audit_log.c.seq >= self._chain.next_seq
            )
        ).all()
        if not rows:
            return values
        stored = {(row.kind, int(row.ts), row.payload) for row in rows}
        return [event for event in values if _content_key(event) not in stored]

    def snapshot(self) -> tuple[int, str]:
        return (self._chain.next_seq, self._chain.prev_hash)

    def close(self) -> None:
        self._engine.dispose()


class AuditChainSink(FixedPartitionedSink[AuditEvent, tuple[int, str]]):
    """Bytewax sink appending :class:`~operators.audit.chain.AuditEvent` items to the chain.

    One partition, so the chain is written sequentially by one worker. Items are
    ``(key, event)`` pairs (see :func:`operators.audit.events.audit_trail`). A fresh flow
    continues after the stored head; a resumed flow continues from its snapshot and re-writes
    the records after it, which the idempotent append skips.
    """

    def __init__(self, url: str) -> None:
        self.url = url

    def list_parts(self) -> list[str]:
        return ["audit"]

    def part_fn(self, item_key: str) -> int:
        return 0

    def build_part(
        self, step_id: str, for_part: str, resume_state: tuple[int, str] | None
    ) -> _AuditPartition:
        return _AuditPartition(self.url, resume_state)
