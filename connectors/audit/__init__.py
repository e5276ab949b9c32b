"""Where the audit chain is anchored outside the store: its key and its checkpoint writers.

* :mod:`connectors.audit.config`: settings from the environment (key, key file, checkpoint
  file, checkpoint table) and :class:`~connectors.audit.config.AuditTrust`, what a writer or
  verifier of the chain is given;
* :mod:`connectors.audit.checkpoints`: the :class:`~connectors.audit.checkpoints.CheckpointWriter`
  interface and its append-only file and PostgreSQL implementations.
"""
