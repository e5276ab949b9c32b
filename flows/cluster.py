"""Where a flow runs: worker threads, a cluster of processes, and its recovery directory.

Two configuration sections (``cluster:`` and ``recovery:`` in the YAML, or the CLI flags
``--workers``, ``--processes``, ``--process-id``, ``--recovery-dir``, ``--snapshot-interval``)
and the functions that turn them into a Bytewax execution:

* :func:`prepare_recovery` creates the recovery partitions on first use (Bytewax's
  ``init_db_dir``) and keeps the run's identity beside them (``quorum-run.json``), so a
  restarted run resumes under the same run id and its idempotent sinks overwrite, not duplicate;
* :func:`execute` runs the flow: one worker (``run_main``), N worker threads of one process, or
  this process's share of a multi-process cluster (``cluster_main``).

Semantics of a resume: Bytewax restores every stateful step and source from the last snapshot
and replays from there, so outputs written after that snapshot are written again
(at-least-once). Every sink is idempotent (dedupe keys), so the store ends up as after an
uninterrupted run.

>>> settings = ClusterSettings(workers=2)
>>> settings.total_workers, settings.is_multi_process
(2, False)
>>> ClusterSettings(processes=("127.0.0.1:2101", "127.0.0.1:2102"), process_id=1).total_workers
2
>>> ClusterSettings(processes=("127.0.0.1:2101",), process_id=3)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for ClusterSettings
...process_id 3 is not an index of processes (1 listed)...
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import cluster_main, run_main
from pydantic import BaseModel, ConfigDict, Field, model_validator

RUN_FILE = "quorum-run.json"
"""Beside the recovery partitions: the run id, command and inputs the directory belongs to."""

DEFAULT_SNAPSHOT_SECONDS = 10.0
"""Bytewax's default epoch (and so snapshot) interval."""


class RecoveryError(ValueError):
    """A recovery directory that cannot serve this run (message says why and what to do)."""


class ClusterError(RuntimeError):
    """This process could not start its share of a cluster, or lost another process of it
    (the message names the address and what to check)."""


def cluster_failure(exc: BaseException, cluster: ClusterSettings) -> str | None:
    """What a failure out of Bytewax's cluster start-up means for this process's operator, or
    ``None`` for any other failure. Timely connects each process to the lower-numbered ones,
    then listens on its own address: a taken address fails there, and the processes already
    connected to it see their peer vanish (a panic of their network threads).

    >>> pair = ("127.0.0.1:2101", "127.0.0.1:2102")
    >>> first, second = (ClusterSettings(processes=pair, process_id=i) for i in (0, 1))
    >>> print(cluster_failure(RuntimeError("error building timely communication pipeline: "
    ...     "failed to initialize networking: Address already in use (os error 98)"), second))
    cluster process 1 cannot listen on 127.0.0.1:2102: the address is in use (by another
    program, or a process of an earlier run still running); free it or give every process other
    --processes addresses
    >>> print(cluster_failure(RuntimeError("Send thread panic: Any { .. }"), first))
    cluster process 0 lost its connection to another process of the cluster (127.0.0.1:2102):
    that process stopped or could not start (its own output says why)
    >>> cluster_failure(ValueError("bad candle"), second) is None
    True
    """
    if not cluster.is_multi_process:
        return None
    text = str(exc)
    me = cluster.process_id or 0
    if "Address already in use" in text:
        return (
            f"cluster process {me} cannot listen on {cluster.processes[me]}: the address is in "
            "use (by another program, or a process of an earlier run still running); free it "
            "or give every process other --processes addresses"
        )
    if "thread panic" in text:  # pyo3's PanicException out of timely's network threads
        others = ", ".join(a for i, a in enumerate(cluster.processes) if i != me)
        return (
            f"cluster process {me} lost its connection to another process of the cluster "
            f"({others}): that process stopped or could not start (its own output says why)"
        )
    return None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecoverySettings(_Section):
    """Bytewax recovery: snapshots of every stateful step, resumed from on restart."""

    directory: Path | None = Field(
        default=None,
        description="recovery directory; created with its partitions on first use and resumed "
        "from on restart; null = no recovery (a restart starts over)",
    )
    snapshot_interval_seconds: float = Field(
        default=DEFAULT_SNAPSHOT_SECONDS,
        gt=0,
        description="seconds between snapshots (Bytewax's epoch interval); a restart replays "
        "at most this much work",
    )
    backup_interval_seconds: float = Field(
        default=0.0,
        ge=0,
        description="seconds an outdated snapshot is kept (for backups of the directory)",
    )
    partitions: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="recovery partitions created on first use; default one per worker",
    )


class ClusterSettings(_Section):
    """How many Bytewax workers run the flow, in how many processes."""

    workers: int = Field(default=1, ge=1, le=256, description="worker threads in each process")
    processes: tuple[str, ...] = Field(
        default=(),
        description="host:port of every process of a multi-process cluster, the same list in "
        "the same order on each; empty = a single process",
    )
    process_id: int | None = Field(
        default=None, ge=0, description="this process's index in `processes`"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ClusterSettings:
        for address in self.processes:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"processes: {address!r} is not host:port")
        if self.processes and self.process_id is None:
            raise ValueError("process_id is required with processes (0 for the first)")
        if self.process_id is not None and self.process_id >= max(len(self.processes), 1):
            raise ValueError(
                f"process_id {self.process_id} is not an index of processes "
                f"({len(self.processes)} listed)"
            )
        return self

    @property
    def is_multi_process(self) -> bool:
        return len(self.processes) > 1

    @property
    def is_lead(self) -> bool:
        """The process that registers and closes the run (the only one, or process 0)."""
        return not self.process_id

    @property
    def total_workers(self) -> int:
        return self.workers * max(len(self.processes), 1)


def cluster_run_id(command: str, inputs: Sequence[str], cluster: ClusterSettings) -> str:
    """A run id every process of a cluster derives alike (no coordination needed).

    >>> a = cluster_run_id("run", ["x.parquet"], ClusterSettings(processes=("h:1", "h:2"),
    ...                                                            process_id=0))
    >>> a == cluster_run_id("run", ["x.parquet"], ClusterSettings(processes=("h:1", "h:2"),
    ...                                                             process_id=1))
    True
    """
    text = json.dumps([command, list(inputs), list(cluster.processes), cluster.workers])
    return f"cluster-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise first-use set-up between the processes of a cluster sharing ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _has_partitions(directory: Path) -> bool:
    return any(directory.glob("part-*.sqlite3"))


def _identity(directory: Path, wanted: dict[str, Any]) -> str:
    """The run id kept in ``directory``; written on first use, checked on every resume."""
    path = directory / RUN_FILE
    if not path.exists():
        path.write_text(json.dumps(wanted, indent=2))
        return str(wanted["run_id"])
    try:
        stored = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RecoveryError(f"{path} is not valid JSON ({exc}); remove the directory") from None
    for key in ("command", "inputs"):
        if stored.get(key) != wanted[key]:
            raise RecoveryError(
                f"recovery directory {directory} belongs to another run ({key}: "
                f"{stored.get(key)!r}, this run: {wanted[key]!r}); use a fresh directory"
            )
    return str(stored["run_id"])


def prepare_recovery(
    settings: RecoverySettings,
    cluster: ClusterSettings,
    *,
    command: str,
    inputs: Sequence[str],
    run_id: str,
) -> tuple[RecoveryConfig | None, str]:
    """Bytewax's recovery configuration and the run id to use (a resume keeps its first one).

    On first use the directory is created with ``settings.partitions`` (default: one per
    worker of the whole cluster) empty partitions and the run's identity; afterwards it is
    resumed from, and a directory of another run (other command or inputs) is refused.
    """
    if settings.directory is None:
        return None, run_id
    directory = settings.directory
    if directory.exists() and not directory.is_dir():
        raise RecoveryError(f"recovery directory {directory} is a file")
    wanted = {"run_id": run_id, "command": command, "inputs": list(inputs)}
    with _locked(directory):
        if not _has_partitions(directory):
            init_db_dir(directory, settings.partitions or cluster.total_workers)
        resumed_id = _identity(directory, wanted)
    config = RecoveryConfig(
        str(directory), backup_interval=timedelta(seconds=settings.backup_interval_seconds)
    )
    return config, resumed_id


def execute(
    flow: Dataflow,
    cluster: ClusterSettings,
    recovery: RecoverySettings,
    recovery_config: RecoveryConfig | None,
) -> None:
    """Run ``flow`` to its end as this process's share of ``cluster``."""
    epoch = timedelta(seconds=recovery.snapshot_interval_seconds)
    if cluster.total_workers == 1:
        run_main(flow, epoch_interval=epoch, recovery_config=recovery_config)
        return
    try:
        cluster_main(
            flow,
            list(cluster.processes) if cluster.is_multi_process else [],
            cluster.process_id or 0,
            epoch_interval=epoch,
            recovery_config=recovery_config,
            worker_count_per_proc=cluster.workers,
        )
    except BaseException as exc:  # pyo3's PanicException is not an Exception
        problem = cluster_failure(exc, cluster)
        if problem is None:
            raise
        raise ClusterError(problem) from None
