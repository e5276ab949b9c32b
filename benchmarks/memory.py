"""Memory figures: peak resident set size of the process, and bytes of state per symbol.

State per symbol is what Bytewax itself persists: a run with recovery enabled writes each
stateful step's snapshot of each key (the pickled state) to its SQLite recovery partition, in
the ``snaps`` table. :func:`state_sizes` reads the latest snapshot of every (step, key) there and
groups the sizes by step; keys are symbols, except the trading core's keys, portfolio ids, each
shared by the symbols its portfolio trades and reported apart.

>>> label_of("quorum.validate_trades.check.stateful.stateful_batch")
'validate_trades'
>>> label_of("quorum.features.banks.stateful.stateful_batch")
'features'
"""

from __future__ import annotations

import resource
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

SHARED_STEPS = frozenset({"trading"})
"""Steps keyed by something other than a symbol (the trading core: by portfolio id)."""

_LATEST = """
SELECT step_id, state_key, length(ser_change) FROM snaps AS s
WHERE ser_change IS NOT NULL AND snap_epoch = (
    SELECT max(snap_epoch) FROM snaps AS t
    WHERE t.step_id = s.step_id AND t.state_key = s.state_key)
"""


def label_of(step_id: str) -> str:
    """The flow-level name of a stateful step: the component after the flow id."""
    parts = step_id.split(".")
    return parts[1] if len(parts) > 1 else step_id


@dataclass(frozen=True)
class StepState:
    """Snapshot sizes of one stateful step over its keys."""

    step: str
    keys: int
    mean_bytes: float
    max_bytes: int
    shared: bool


def state_sizes(recovery_dir: Path) -> list[StepState]:
    """Latest snapshot size per key, grouped by step, from a recovery directory."""
    sizes: dict[tuple[str, bool], list[int]] = {}
    for part in sorted(recovery_dir.glob("*.sqlite3")):
        with sqlite3.connect(part) as db:
            for step_id, _key, size in db.execute(_LATEST):
                if step_id.endswith(".source") or label_of(step_id) == "source":
                    continue
                label = label_of(step_id)
                sizes.setdefault((label, label in SHARED_STEPS), []).append(int(size))
    return [
        StepState(step, len(values), sum(values) / len(values), max(values), shared)
        for (step, shared), values in sorted(sizes.items())
    ]


def per_symbol_bytes(states: list[StepState], symbols: int) -> float:
    """Mean bytes of state per symbol: each per-symbol step's mean, plus each shared step's
    state divided among the ``symbols``.

    >>> per_symbol_bytes([StepState("a", 2, 100.0, 120, False),
    ...                   StepState("trading", 1, 800.0, 800, True)], symbols=2)
    500.0
    """
    own = sum(s.mean_bytes for s in states if not s.shared)
    shared = sum(s.mean_bytes * s.keys for s in states if s.shared)
    return own + shared / symbols


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far: Linux's ``VmHWM``, the high-water mark
    of this program's own address space. (``getrusage``'s ``ru_maxrss`` survives ``exec`` on
    Linux: a child started by a large harness process reports the parent's peak as its own —
    every scale point once showed the 2.1 GB of the dense workload the harness held.)"""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # Linux reports KiB


def reset_peak_rss() -> bool:
    """Start a new high-water mark at the current resident size (Linux: ``clear_refs`` 5), so
    that :func:`peak_rss_bytes` tells the peak of what runs next. False where it cannot (the
    peak then covers everything since the process started)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True
