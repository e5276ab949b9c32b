"""Audit settings from the environment, and :class:`AuditTrust`: the key and checkpoint writers.

=================================  ==============================================================
variable                           meaning
=================================  ==============================================================
``QUORUM_AUDIT_KEY``               the HMAC key itself (≥ 32 bytes; e.g. ``openssl rand -hex 32``)
``QUORUM_AUDIT_KEY_FILE``          a file holding the key (a mounted secret); one trailing newline
                                   is ignored
``QUORUM_AUDIT_CHECKPOINTS``       the checkpoint file (default: beside a SQLite store,
                                   ``<store>.audit-checkpoints.jsonl``; ``off``: none)
``QUORUM_AUDIT_CHECKPOINT_DB``     a PostgreSQL URL whose ``audit_checkpoints`` table also gets
                                   every checkpoint
=================================  ==============================================================

When Kafka is configured (the run configuration's ``kafka:`` section), every checkpoint is also
published to the ``<prefix>.audit`` topic (:mod:`connectors.kafka.audit_checkpoints`).

Without a key the chain stays plain SHA-256 (the embedded demo) and verify says so.

>>> settings = AuditSettings.from_environment({"QUORUM_AUDIT_KEY": "k" * 32})
>>> trust = settings.trust("sqlite:///out/quorum.sqlite")
>>> trust.key.key_id, [w.where for w in trust.writers]
('a1eec8d9c2b8e7a1', ['file out/quorum.audit-checkpoints.jsonl'])
>>> "kkkk" in repr(settings) + repr(trust)
False
>>> try:
...     AuditSettings.from_environment({"QUORUM_AUDIT_KEY": "short"}).audit_key()
... except AuditConfigError as exc:
...     print(exc)
QUORUM_AUDIT_KEY: the audit key must be at least 32 bytes (got 5): use e.g. `openssl rand -hex 32`
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy.engine import Engine, make_url

if TYPE_CHECKING:
    from connectors.kafka.config import KafkaConfig

from connectors.audit.checkpoints import CheckpointWriter, FileCheckpoints, PostgresCheckpoints
from connectors.store.engine import url_for
from operators.audit.checkpoints import take_checkpoint
from operators.audit.keys import AuditKey
from schemas.records import AuditCheckpoint

logger = logging.getLogger(__name__)

KEY_ENV = "QUORUM_AUDIT_KEY"
KEY_FILE_ENV = "QUORUM_AUDIT_KEY_FILE"
CHECKPOINTS_ENV = "QUORUM_AUDIT_CHECKPOINTS"
CHECKPOINT_DB_ENV = "QUORUM_AUDIT_CHECKPOINT_DB"
CHECKPOINT_SUFFIX = ".audit-checkpoints.jsonl"


class AuditConfigError(ValueError):
    """Audit settings that cannot be used (names the variable; never shows a secret)."""


class AuditSettings(BaseModel):
    """How the audit chain is keyed and where its checkpoints go."""

    model_config = ConfigDict(frozen=True)

    key: SecretStr | None = Field(default=None, description=f"The HMAC key ({KEY_ENV})")
    key_file: Path | None = Field(
        default=None, description=f"File holding the key ({KEY_FILE_ENV})"
    )
    checkpoint_file: str | None = Field(
        default=None,
        description=f"Checkpoint file; None: beside a SQLite store; 'off': none "
        f"({CHECKPOINTS_ENV})",
    )
    checkpoint_db: SecretStr | None = Field(
        default=None, description=f"PostgreSQL URL for the checkpoint table ({CHECKPOINT_DB_ENV})"
    )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> AuditSettings:
        env = os.environ if environ is None else environ
        return cls(
            key=env.get(KEY_ENV) or None,
            key_file=env.get(KEY_FILE_ENV) or None,
            checkpoint_file=env.get(CHECKPOINTS_ENV) or None,
            checkpoint_db=env.get(CHECKPOINT_DB_ENV) or None,
        )

    def audit_key(self) -> AuditKey | None:
        """The configured key, None for an unkeyed chain."""
        if self.key is not None and self.key_file is not None:
            raise AuditConfigError(f"set either {KEY_ENV} or {KEY_FILE_ENV}, not both")
        if self.key is not None:
            secret, origin = self.key.get_secret_value().encode(), KEY_ENV
        elif self.key_file is not None:
            origin = f"{KEY_FILE_ENV} ({self.key_file})"
            try:
                secret = self.key_file.read_bytes().removesuffix(b"\n")
            except OSError as exc:
                raise AuditConfigError(
                    f"{origin}: cannot read the key file: {exc.strerror}"
                ) from None
        else:
            return None
        try:
            return AuditKey.from_secret(secret)
        except ValueError as exc:
            raise AuditConfigError(f"{origin}: {exc}") from None

    def checkpoint_path(self, store_url: str) -> Path | None:
        if self.checkpoint_file == "off":
            return None
        if self.checkpoint_file is not None:
            return Path(self.checkpoint_file)
        url = make_url(url_for(store_url))
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return Path(str(url.database)).with_suffix(CHECKPOINT_SUFFIX)
        return None

    def trust(self, store_url: str, kafka: KafkaConfig | None = None) -> AuditTrust:
        """The key and the checkpoint writers; ``kafka`` (when enabled) adds the audit topic."""
        writers: list[CheckpointWriter] = []
        path = self.checkpoint_path(store_url)
        if path is not None:
            writers.append(FileCheckpoints(path))
        if self.checkpoint_db is not None:
            writers.append(PostgresCheckpoints(self.checkpoint_db.get_secret_value()))
        if kafka is not None and kafka.enabled:
            from connectors.kafka.audit_checkpoints import KafkaCheckpoints  # Kafka runs only

            writers.append(KafkaCheckpoints(kafka))
        return AuditTrust(self.audit_key(), tuple(writers))


@dataclass(frozen=True)
class AuditTrust:
    """What a writer or verifier of the chain holds: the key (or None) and the checkpoints."""

    key: AuditKey | None = None
    writers: tuple[CheckpointWriter, ...] = field(default=())

    @classmethod
    def for_store(
        cls,
        store_url: str,
        environ: Mapping[str, str] | None = None,
        kafka: KafkaConfig | None = None,
    ) -> AuditTrust:
        """The trust configured in the environment for the store at ``store_url`` (plus the
        audit topic of ``kafka`` when it is enabled)."""
        return AuditSettings.from_environment(environ).trust(store_url, kafka)

    @classmethod
    def for_engine(
        cls,
        engine: Engine,
        environ: Mapping[str, str] | None = None,
        kafka: KafkaConfig | None = None,
    ) -> AuditTrust:
        return cls.for_store(engine.url.render_as_string(hide_password=False), environ, kafka)

    def checkpoint(self, head: tuple[int, str] | None) -> AuditCheckpoint | None:
        """Write a checkpoint of ``head`` to every writer; a failing writer is logged, the
        others still get it (a missing checkpoint narrows what verify can prove, it loses no
        record)."""
        if not self.writers:
            return None
        checkpoint = take_checkpoint(head, written_at_ns=time.time_ns(), key=self.key)
        for writer in self.writers:
            try:
                writer.write(checkpoint)
            except Exception as exc:  # any I/O failure of one place; the others still write
                logger.error("audit checkpoint not written to %s: %s", writer.where, exc)
        return checkpoint

    def read_checkpoints(self) -> list[AuditCheckpoint]:
        return [cp for writer in self.writers for cp in writer.read_all()]
