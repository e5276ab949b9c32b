"""A fault hook for crash tests: the process kills itself (SIGKILL) at a chosen point.

``QUORUM_CRASH_AFTER_ITEMS=N`` makes the store sink of ``quorum run`` send ``SIGKILL`` to its
own process once the write that carries its N-th item (a record or a batch of records) is
committed: no clean-up, no final snapshot, exactly like ``kill -9``, but at a point fixed by
the data, not by timing. Unset (always, outside tests) the sink is returned untouched.

>>> from bytewax.testing import TestingSink
>>> sink = TestingSink([])
>>> crash_after_env(sink, environ={}) is sink
True
>>> crash_after_env(sink, environ={CRASH_ENV: "many"})
Traceback (most recent call last):
...
ValueError: QUORUM_CRASH_AFTER_ITEMS must be a positive integer, got 'many'
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Mapping
from typing import Any

from bytewax.outputs import DynamicSink, StatelessSinkPartition

CRASH_ENV = "QUORUM_CRASH_AFTER_ITEMS"
CRASH_ACCEPTED_ENV = "QUORUM_CRASH_AFTER_ACCEPTED"
"""``N``: a live venue gateway SIGKILLs its process as soon as the venue's answer accepting the
N-th order arrives, before the answer is reported (kill -9 between send and acknowledgement)."""


class _Countdown:
    """Items written by every worker of this process; kills the process at the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.written = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.written += n
            if self.written >= self.limit:
                os.kill(os.getpid(), signal.SIGKILL)


class _CrashingPartition(StatelessSinkPartition[Any]):
    def __init__(self, inner: StatelessSinkPartition[Any], countdown: _Countdown) -> None:
        self._inner = inner
        self._countdown = countdown

    def write_batch(self, items: list[Any]) -> None:
        self._inner.write_batch(items)
        self._countdown.add(len(items))

    def close(self) -> None:
        self._inner.close()


class CrashAfter(DynamicSink[Any]):
    """Wraps a dynamic sink: SIGKILL this process after ``limit`` items were written."""

    def __init__(self, inner: DynamicSink[Any], limit: int) -> None:
        self._inner = inner
        self._countdown = _Countdown(limit)

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _CrashingPartition:
        inner = self._inner.build(step_id, worker_index, worker_count)
        return _CrashingPartition(inner, self._countdown)


def crash_after_env(
    sink: DynamicSink[Any], environ: Mapping[str, str] | None = None
) -> DynamicSink[Any]:
    """``sink``, wrapped in :class:`CrashAfter` when ``QUORUM_CRASH_AFTER_ITEMS`` is set."""
    text = (os.environ if environ is None else environ).get(CRASH_ENV)
    if not text:
        return sink
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{CRASH_ENV} must be a positive integer, got {text!r}")
    return CrashAfter(sink, int(text))


def crash_after_accepted_env(environ: Mapping[str, str] | None = None) -> Callable[[], None] | None:
    """A hook that SIGKILLs this process on its N-th call (``QUORUM_CRASH_AFTER_ACCEPTED=N``),
    or None when the variable is unset.

    >>> crash_after_accepted_env({}) is None
    True
    """
    text = (os.environ if environ is None else environ).get(CRASH_ACCEPTED_ENV)
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{CRASH_ACCEPTED_ENV} must be a positive integer, got {text!r}")
    countdown = _Countdown(int(text))
    return lambda: countdown.add(1)
