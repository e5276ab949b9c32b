"""Checkpoint writers: where the audit chain's head is kept outside the store.

A :class:`CheckpointWriter` appends :class:`~schemas.records.AuditCheckpoint` records and reads
them back for verification. Two live here: an append-only JSON-lines file (the default) and a
PostgreSQL table (insert-only, ideally in a database the store's writers cannot write). The
``quorum.v1.audit`` Kafka topic implements the same two methods in ``connectors/kafka``.

>>> import tempfile
>>> from pathlib import Path
>>> from operators.audit.checkpoints import take_checkpoint
>>> workdir = tempfile.TemporaryDirectory()
>>> writer = FileCheckpoints(Path(workdir.name) / "audit.checkpoints.jsonl")
>>> writer.write(take_checkpoint((4, "ab" * 32), written_at_ns=1, key=None))
>>> [cp.count for cp in writer.read_all()]
[5]
>>> workdir.cleanup()
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, create_engine, select
from sqlalchemy.engine import Engine

from schemas.records import AuditCheckpoint


class CheckpointFormatError(ValueError):
    """A stored checkpoint that cannot be read (names where it is)."""


class CheckpointUnavailableError(RuntimeError):
    """A checkpoint place that cannot be read now (a broker down): verify cannot conclude."""


class CheckpointWriter(Protocol):
    """Somewhere outside the store that keeps checkpoints; appending is its only write."""

    @property
    def where(self) -> str:
        """Where the checkpoints are kept, for messages (never a secret)."""
        ...

    def write(self, checkpoint: AuditCheckpoint) -> None: ...

    def read_all(self) -> list[AuditCheckpoint]: ...


class FileCheckpoints:
    """One JSON line per checkpoint, appended with ``O_APPEND`` and fsynced.

    Lines from several writers (the flow and the API) never interleave: each is one
    ``write`` of a few hundred bytes to a file opened for appending. Make the file
    append-only at the OS level (``chattr +a``) or ship it elsewhere to keep its own history.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def where(self) -> str:
        return f"file {self.path}"

    def write(self, checkpoint: AuditCheckpoint) -> None:
        line = checkpoint.model_dump_json().encode() + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read_all(self) -> list[AuditCheckpoint]:
        if not self.path.exists():
            return []
        out = []
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    out.append(AuditCheckpoint.model_validate_json(line))
                except ValidationError as exc:
                    problem = exc.errors()[0]["msg"]
                    raise CheckpointFormatError(
                        f"{self.path}:{number} is not a checkpoint ({problem})"
                    ) from None
        return out


_metadata = MetaData()

audit_checkpoints = Table(
    "audit_checkpoints",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("count", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("written_at_ns", BigInteger, nullable=False),
    Column("key_id", String(32)),
    Column("signature", String(64)),
)


class PostgresCheckpoints:
    """Checkpoints in a PostgreSQL table ``audit_checkpoints`` (created when missing).

    Rows are only inserted. Grant the writers INSERT and SELECT on it, nothing more, and keep
    it in another database than the store so that write access to one is not access to both.
    """

    def __init__(self, url: str) -> None:
        self._engine: Engine = create_engine(url)
        self._ready = False
        self._where = f"table audit_checkpoints at {self._engine.url!r}"  # password masked

    @property
    def where(self) -> str:
        return self._where

    def _prepare(self) -> None:
        if not self._ready:
            _metadata.create_all(self._engine)
            self._ready = True

    def write(self, checkpoint: AuditCheckpoint) -> None:
        self._prepare()
        with self._engine.begin() as conn:
            conn.execute(audit_checkpoints.insert(), [checkpoint.model_dump()])

    def read_all(self) -> list[AuditCheckpoint]:
        self._prepare()
        with self._engine.connect() as conn:
            rows = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.id)).all()
        return [
            AuditCheckpoint.model_validate({k: v for k, v in row._mapping.items() if k != "id"})
            for row in rows
        ]

    def close(self) -> None:
        self._engine.dispose()
