"""The audit log in the store: an append-only hash chain plus its head.

Tables (on the shared :data:`~connectors.store.engine.metadata`):

* ``audit_log``: one row per record — ``seq`` (primary key), ``ts`` (ns since the epoch, UTC),
  ``kind``, ``payload`` (canonical JSON text), ``prev_hash``, ``hash``, ``key_id`` (the audit
  key the hash is an HMAC with; NULL: plain sha256);
* ``audit_head``: a single row (``id = 1``) holding the last record's ``seq`` and ``hash``, so
  records removed at the end of the chain are detected.

Appends are idempotent, because Bytewax recovery replays outputs: a record whose ``seq`` is
already stored with the same hash is skipped; a *different* record at a stored ``seq`` is an
:class:`AuditConflictError` (two writers, or a diverging replay), never an overwrite. Rows are only
ever inserted; nothing here updates or deletes a record. One writer per store: the flow's audit
sink (a single partition) or, outside a flow, :func:`append_events`.

Nothing in the store can vouch for the store: :func:`verify_store` also checks the chain
against the latest checkpoint kept outside it and the ledger tables against the records
(:mod:`connectors.store.audit_coverage`), with the key of
:class:`~connectors.audit.config.AuditTrust`.

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
'audit chain intact: 2 records (records 0..1), unkeyed (sha256)'
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from connectors.audit.config import AuditTrust
from connectors.store.engine import metadata, open_store, upsert
from operators.audit.chain import AuditChain, AuditEvent, VerifyResult, canonical_json, verify_chain
from operators.audit.checkpoints import latest_anchor
from operators.audit.keys import AuditKey
from schemas.common import datetime_to_ns, ns_to_datetime
from schemas.records import AuditRecord

if TYPE_CHECKING:
    from connectors.kafka.config import KafkaConfig

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
    Column("key_id", String(32), comment="audit key of the HMAC; NULL: plain sha256"),
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
        "ts": record.ts_ns if record.ts_ns is not None else datetime_to_ns(record.ts),
        "kind": record.kind,
        "payload": canonical_json(record.payload).decode(),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
        "key_id": record.key_id,
    }


def _payload(text: str) -> dict[str, Any]:
    """The stored payload; text that is no longer a JSON object is kept so its hash fails."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {"__unreadable_payload__": text}


def stored_record(row: Any) -> AuditRecord:
    """A stored row as a record, its exact ns time kept; an unreadable payload kept as text."""
    return AuditRecord(
        seq=row.seq,
        ts=ns_to_datetime(row.ts),
        ts_ns=int(row.ts),
        kind=row.kind,
        payload=_payload(row.payload),
        prev_hash=row.prev_hash,
        hash=row.hash,
        key_id=row.key_id,
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
    conn_or_engine: Connection | Engine,
    events: Iterable[AuditEvent],
    key: AuditKey | None = None,
) -> list[AuditRecord]:
    """Chain ``events`` after the stored head and append them (for writers outside a flow)."""
    with _begin(conn_or_engine) as conn:
        chain = AuditChain.after(read_head(conn), key)
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
            yield stored_record(row)
        last = rows[-1].seq


def tail(conn_or_engine: Connection | Engine, n: int = 20) -> list[AuditRecord]:
    """The last ``n`` records, oldest first."""
    with _begin(conn_or_engine) as conn:
        rows = conn.execute(
            select(audit_log).order_by(audit_log.c.seq.desc()).limit(max(0, n))
        ).all()
    return [stored_record(row) for row in reversed(rows)]


def has_audit_tables(engine: Engine) -> bool:
    names = set(inspect(engine).get_table_names())
    return {audit_log.name, audit_head.name} <= names


def verify_store(
    conn_or_engine: Connection | Engine, trust: AuditTrust | None = None, *, ledger: bool = True
) -> VerifyResult:
    """Verify the stored chain against its head, the latest checkpoint and the ledger.

    ``trust`` holds the key and the checkpoint writers (default: none, an unkeyed check of the
    store alone); ``ledger=False`` skips the ledger cross-check (a store that holds only an
    audit log, as in the sink's own tests). The result's ``notes`` say what could not be
    covered: an unkeyed chain, no checkpoint. Raises
    :class:`~operators.audit.chain.KeyRequiredError` for a keyed chain without its key.
    """
    from connectors.store.audit_coverage import ledger_findings

    trust = trust or AuditTrust()
    notes: list[str] = []
    anchor = None
    if trust.writers:
        checkpoints = trust.read_checkpoints()
        anchor = latest_anchor(checkpoints, trust.key)
        if anchor is None:
            where = ", ".join(w.where for w in trust.writers)
            notes.append(f"no usable checkpoint in {where}: a truncated tail cannot be detected")
        elif trust.key is None:
            notes.append("checkpoints are unsigned: whoever can write them can forge them")
    else:
        notes.append("no checkpoint is configured: a truncated tail cannot be detected")
    result = verify_chain(iter_chain(conn_or_engine), read_head(conn_or_engine), trust.key, anchor)
    if result.key_id is None:
        notes.append("the chain is unkeyed: set QUORUM_AUDIT_KEY to make rewriting it detectable")
    findings: tuple[str, ...] = ()
    if ledger:
        with _begin(conn_or_engine) as conn:
            findings = tuple(ledger_findings(conn))
    return replace(result, findings=findings, notes=tuple(notes))


# --- Bytewax sink ------------------------------------------------------------------------------


_WRITE_ATTEMPTS = 5

AuditSinkState = tuple[int, str, tuple[int, ...]]
"""The sink's snapshot: the chain position (next seq, previous hash) and the stored records a
replay may still repeat (their seqs), see :class:`ReplayWindow`."""


def _content_key(kind: str, ts_ns: int, payload_json: str) -> tuple[str, int, str]:
    """What makes a stored record the same event: kind, event time and canonical payload."""
    return (kind, ts_ns, payload_json)


def _event_key(event: AuditEvent) -> tuple[str, int, str]:
    return _content_key(
        event.kind, datetime_to_ns(event.ts), canonical_json(event.payload).decode()
    )


class ReplayWindow:
    """Stored records that a resumed flow may write again, matched one for one.

    Bytewax resumes from the last snapshot and replays the outputs produced after it, so the
    records this flow stored after its snapshot position come back as events. Each replayed
    event whose content (kind, ts in ns, canonical payload) equals a record of the window takes
    that record's place instead of being appended; a record matches one event only, so a
    batch that legitimately repeats an event still stores it twice. Records of other writers
    (the API's review decisions) never match and stay until the window is dropped with the run.
    The window is part of the sink's snapshot: a second crash before the replay has caught up
    resumes with what is left of it, so the chain stays exactly-once across any number of
    resumes.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2022, 1, 1, tzinfo=UTC)
    >>> window = ReplayWindow({_event_key(AuditEvent("fill", t, {"id": "f1"})): [7]})
    >>> fresh, rest = window.split([AuditEvent("fill", t, {"id": "f1"}),
    ...                             AuditEvent("fill", t, {"id": "f2"})])
    >>> [e.payload["id"] for e in fresh], rest.seqs(), window.seqs()
    (['f2'], (), (7,))
    """

    def __init__(self, by_key: dict[tuple[str, int, str], list[int]] | None = None) -> None:
        self._by_key = by_key or {}

    @classmethod
    def load(cls, conn: Connection, seqs: Iterable[int]) -> ReplayWindow:
        """The window of the stored records ``seqs`` (missing ones are ignored)."""
        wanted = set(seqs)
        if not wanted:
            return cls()
        rows = conn.execute(
            select(audit_log.c.seq, audit_log.c.kind, audit_log.c.ts, audit_log.c.payload)
            .where(audit_log.c.seq.between(min(wanted), max(wanted)))
            .order_by(audit_log.c.seq)
        ).all()
        by_key: dict[tuple[str, int, str], list[int]] = {}
        for row in rows:
            if int(row.seq) in wanted:
                key = _content_key(row.kind, int(row.ts), row.payload)
                by_key.setdefault(key, []).append(int(row.seq))
        return cls(by_key)

    def split(self, events: Sequence[AuditEvent]) -> tuple[list[AuditEvent], ReplayWindow]:
        """The events not stored yet, and the window left after the others took their record."""
        left = {key: list(seqs) for key, seqs in self._by_key.items()}
        fresh = []
        for event in events:
            seqs = left.get(_event_key(event))
            if seqs:
                seqs.pop(0)
            else:
                fresh.append(event)
        return fresh, ReplayWindow({key: seqs for key, seqs in left.items() if seqs})

    def seqs(self) -> tuple[int, ...]:
        return tuple(sorted(seq for seqs in self._by_key.values() for seq in seqs))


audit_writers = Table(
    "audit_writers",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column(
        "first_seq",
        BigInteger,
        nullable=False,
        comment="the chain's next seq when this run's flow first wrote to it",
    ),
)


def _run_first_seq(conn: Connection, run_id: str) -> int | None:
    value = conn.execute(
        select(audit_writers.c.first_seq).where(audit_writers.c.run_id == run_id)
    ).scalar_one_or_none()
    return None if value is None else int(value)


class _AuditPartition(StatefulSinkPartition[AuditEvent, AuditSinkState]):
    def __init__(
        self, url: str, run_id: str | None, trust: AuditTrust, resume_state: tuple | None
    ) -> None:
        self._engine = open_store(url)
        self._run_id = run_id
        self._trust = trust
        self._key = trust.key
        with self._engine.begin() as conn:
            head = read_head(conn)
            self._checkpointed = head
            last = -1 if head is None else head[0]
            if resume_state is None:
                self._chain = AuditChain.after(head, self._key)
                # A run that stored records but crashed before its first snapshot resumes
                # without state: everything it stored may come back.
                first = None if run_id is None else _run_first_seq(conn, run_id)
                replay: Iterable[int] = () if first is None else range(first, last + 1)
                self._marked = first is not None
            else:
                next_seq, prev_hash, *pending = resume_state  # 2-tuples: older snapshots
                self._chain = AuditChain(next_seq, prev_hash, self._key)
                replay = set(pending[0] if pending else ()) | set(range(next_seq, last + 1))
                self._marked = True
            self._replay = ReplayWindow.load(conn, replay)

    def write_batch(self, values: list[AuditEvent]) -> None:
        """Append ``values`` after the stored head, in one transaction.

        The flow is not the chain's only writer (the API records review decisions in it too),
        so the partition re-reads the head every batch instead of trusting its own position.
        Events a resumed flow replays take the place of the records stored for them before
        the crash (:class:`ReplayWindow`), so the chain holds every event exactly once. A race
        with another writer for the same seq is retried with the new head.
        """
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                with self._engine.begin() as conn:
                    chain = self._rebased(conn)
                    if not self._marked and self._run_id is not None:
                        upsert(
                            conn,
                            audit_writers,
                            [{"run_id": self._run_id, "first_seq": chain.next_seq}],
                            ("run_id",),
                            update=False,
                        )
                    pending, replay = self._replay.split(values)
                    records = [chain.append(event) for event in pending]
                    written = append_records(conn, records)
            except (AuditConflictError, IntegrityError):
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
                continue
            self._chain, self._replay, self._marked = chain, replay, True
            logger.debug("audit: %d events, %d new records", len(values), written)
            return

    def _rebased(self, conn: Connection) -> AuditChain:
        head = read_head(conn)
        if head is None or head[0] < self._chain.next_seq:
            return AuditChain(self._chain.next_seq, self._chain.prev_hash, self._key)
        return AuditChain.after(head, self._key)

    def _checkpoint(self) -> None:
        """Anchor the stored head outside the store when it moved since the last checkpoint."""
        if not self._trust.writers:
            return
        head = read_head(self._engine)
        if head is not None and head != self._checkpointed:
            self._trust.checkpoint(head)
            self._checkpointed = head

    def snapshot(self) -> AuditSinkState:
        self._checkpoint()
        return (self._chain.next_seq, self._chain.prev_hash, self._replay.seqs())

    def close(self) -> None:
        self._checkpoint()
        self._engine.dispose()


class AuditChainSink(FixedPartitionedSink[AuditEvent, AuditSinkState]):
    """Bytewax sink appending :class:`~operators.audit.chain.AuditEvent` items to the chain.

    One partition, so the chain is written sequentially by one worker. Items are
    ``(key, event)`` pairs (see :func:`operators.audit.events.audit_trail`). A fresh flow
    continues after the stored head; a resumed flow continues from its snapshot, and the
    records it stored after that snapshot are matched by the events it replays instead of
    being appended again. ``run_id`` (the run's id in the store, kept when a run is resumed)
    lets a run that crashed before its first snapshot recognise its own records too; without
    it such a run is indistinguishable from a new one. ``trust`` (default: from the
    environment, see :mod:`connectors.audit.config`) keys the records and receives a
    checkpoint of the head at every snapshot and at the end; ``kafka`` (the run's enabled
    Kafka settings) adds the audit topic to the default trust's checkpoint places.
    """

    def __init__(
        self,
        url: str,
        run_id: str | None = None,
        trust: AuditTrust | None = None,
        kafka: KafkaConfig | None = None,
    ) -> None:
        self.url = url
        self.run_id = run_id
        self.trust = trust
        self.kafka = kafka

    def list_parts(self) -> list[str]:
        return ["audit"]

    def part_fn(self, item_key: str) -> int:
        return 0

    def build_part(
        self, step_id: str, for_part: str, resume_state: tuple | None
    ) -> _AuditPartition:
        trust = self.trust
        if trust is None:
            trust = AuditTrust.for_store(self.url, kafka=self.kafka)
        return _AuditPartition(self.url, self.run_id, trust, resume_state)
