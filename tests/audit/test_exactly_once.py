"""The audit chain is exactly-once across any number of crashes and resumes.

Bytewax snapshots every ``epoch_interval`` (its default is 10 s) and a resumed flow replays
every output produced after the last snapshot, often several sink batches. Two layers:

* the sink partition driven exactly as Bytewax drives it (snapshot after batch *s*, crash after
  batch *k*, resume from the snapshot), for every pair of points and for pairs of crashes;
* the real trading flow under Bytewax recovery, aborted at several points with snapshot
  intervals of 1 s and 10 s. The test's source keeps exact offsets across several aborts
  (``TestingSource`` does not count its ABORT/PAUSE markers, so a second resume re-reads an
  item) and can hold its input longer than an epoch, so a snapshot falls at a known place
  without depending on how fast the machine is.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.inputs import AbortExecution, FixedPartitionedSource, StatefulSourcePartition
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import run_main

from connectors.store.audit import AuditChainSink, append_events, iter_chain, verify_store
from connectors.store.engine import open_store
from operators.audit.chain import AuditEvent
from operators.audit.events import audit_trail
from operators.execution.operator import trading_core
from tests.audit.test_sink import CONFIG, inputs

T0 = datetime(2022, 1, 1, tzinfo=UTC)
BATCHES = 6


def batches() -> list[list[AuditEvent]]:
    """Two events a batch; the same manual action twice (batches 1 and 4) must stay twice."""
    out = []
    for b in range(BATCHES):
        out.append(
            [
                AuditEvent("fill", T0 + timedelta(minutes=b, seconds=s), {"b": b, "s": s})
                for s in range(2)
            ]
        )
    twice = AuditEvent("manual_action", T0, {"action": "halt", "actor": "ops"})
    out[1].append(twice)
    out[4].append(twice)
    return out


def stored(url: str) -> list[tuple[str, dict[str, Any]]]:
    engine = open_store(url)
    try:
        assert verify_store(engine).ok
        return [(r.kind, r.payload) for r in iter_chain(engine)]
    finally:
        engine.dispose()


def expected() -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, e.payload) for batch in batches() for e in batch]


@dataclass
class Crash:
    """One execution: it starts from the previous snapshot, snapshots after ``snapshot_after``
    batches (absolute index; ``None``: no snapshot) and dies after ``crash_after``."""

    snapshot_after: int | None
    crash_after: int


def simulate(
    url: str, crashes: list[Crash], run_id: str | None = "run-1", api: bool = False
) -> None:
    sink = AuditChainSink(url, run_id=run_id)
    state, start = None, 0
    for number, crash in enumerate([*crashes, Crash(None, BATCHES)]):
        part = sink.build_part("audit", "audit", state)
        for index in range(start, crash.crash_after):
            part.write_batch(batches()[index])
            if index + 1 == crash.snapshot_after:
                state, snapshot_index = part.snapshot(), index + 1
        part.close()
        if crash.snapshot_after is not None:
            start = snapshot_index
        if api and number < len(crashes):  # a reviewer decides while the flow is down
            engine = open_store(url)
            append_events(engine, [AuditEvent("review_decision", T0, {"at": crash.crash_after})])
            engine.dispose()


def single_crashes() -> Iterator[tuple[int | None, int]]:
    for crash_after in range(1, BATCHES):
        yield None, crash_after  # crashed before the first snapshot
        for snapshot_after in range(1, crash_after + 1):
            yield snapshot_after, crash_after


@pytest.mark.parametrize(("snapshot_after", "crash_after"), list(single_crashes()))
def test_one_crash_at_any_point_stores_every_event_once(
    tmp_path: Path, snapshot_after: int | None, crash_after: int
) -> None:
    url = str(tmp_path / "store.sqlite")
    simulate(url, [Crash(snapshot_after, crash_after)])
    assert stored(url) == expected()


def double_crashes() -> Iterator[tuple[Crash, Crash]]:
    for first, second in itertools.product(single_crashes(), repeat=2):
        s1, k1 = first
        s2, k2 = second
        resume_at = s1 or 0
        # the second execution starts at the first snapshot and may snapshot before it dies
        if k2 > resume_at and (s2 is None or resume_at < s2 <= k2):
            yield Crash(s1, k1), Crash(s2, k2)


@pytest.mark.parametrize("crashes", list(double_crashes())[::15])
def test_two_crashes_store_every_event_once(tmp_path: Path, crashes: tuple[Crash, Crash]) -> None:
    url = str(tmp_path / "store.sqlite")
    simulate(url, list(crashes))
    assert stored(url) == expected()


def test_records_written_by_others_while_down_stay_and_are_not_replayed(tmp_path: Path) -> None:
    url = str(tmp_path / "store.sqlite")
    simulate(url, [Crash(2, 4), Crash(None, 5)], api=True)
    records = stored(url)
    assert [p for k, p in records if k == "review_decision"] == [{"at": 4}, {"at": 5}]
    assert [(k, p) for k, p in records if k != "review_decision"] == expected()


def test_a_run_without_an_id_that_dies_before_its_first_snapshot_starts_over(
    tmp_path: Path,
) -> None:
    """Without a run id nothing tells a resume without state from a new run: the records of the
    lost execution stay, and the new one appends its own (the reason runners pass the id)."""
    url = str(tmp_path / "store.sqlite")
    simulate(url, [Crash(None, 2)], run_id=None)
    assert len(stored(url)) == len(expected()) + 5


# --- the real flow under Bytewax recovery --------------------------------------------------------


@dataclass
class Script:
    """Where the scripted source aborts (once each) and where it holds its input."""

    aborts: set[int]
    hold_at: int | None = None
    hold: timedelta = timedelta(0)
    fired: set[int] = field(default_factory=set)
    held: bool = False


class _ScriptedPartition(StatefulSourcePartition[Any, int]):
    def __init__(self, items: list[Any], script: Script, batch: int, index: int) -> None:
        self._items, self._script, self._batch, self._index = items, script, batch, index
        self._awake: datetime | None = None

    def next_batch(self) -> list[Any]:
        if self._index >= len(self._items):
            raise StopIteration
        script = self._script
        if self._index in script.aborts and self._index not in script.fired:
            script.fired.add(self._index)
            raise AbortExecution()
        if self._index == script.hold_at and not script.held:
            script.held = True
            self._awake = datetime.now(UTC) + script.hold
            return []
        if self._awake is not None and datetime.now(UTC) < self._awake:
            return []
        stop = min(
            [self._index + self._batch, len(self._items)]
            + [a for a in script.aborts | {script.hold_at or 0} if a > self._index]
        )
        out = self._items[self._index : stop]
        self._index = stop
        return out

    def next_awake(self) -> datetime | None:
        return self._awake if self._awake and datetime.now(UTC) < self._awake else None

    def snapshot(self) -> int:
        return self._index


class ScriptedSource(FixedPartitionedSource[Any, int]):
    """Items in batches, with exact offsets as state, aborts and a hold from a :class:`Script`."""

    def __init__(self, items: list[Any], script: Script, batch: int = 2) -> None:
        self.items, self.script, self.batch = items, script, batch

    def list_parts(self) -> list[str]:
        return ["items"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> Any:
        return _ScriptedPartition(self.items, self.script, self.batch, resume_state or 0)


class RecordingSink(AuditChainSink):
    """The audit sink, remembering the state each execution resumed from."""

    def __init__(self, url: str) -> None:
        super().__init__(url, run_id="run-1")
        self.resumed_from: list[Any] = []

    def build_part(self, step_id: str, for_part: str, resume_state: Any) -> Any:
        self.resumed_from.append(resume_state)
        return super().build_part(step_id, for_part, resume_state)


def flow_for(source: ScriptedSource, sink: AuditChainSink) -> Dataflow:
    flow = Dataflow("audit_exactly_once")
    audit_trail("audit", trading_core("trading", op.input("in", flow, source), CONFIG), sink)
    return flow


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, dict[str, Any]]]:
    url = str(tmp_path_factory.mktemp("ref") / "ref.sqlite")
    run_main(flow_for(ScriptedSource(inputs(), Script(set())), AuditChainSink(url)))
    return stored(url)


def run_until_done(tmp_path: Path, script: Script, epoch: timedelta) -> tuple[str, RecordingSink]:
    url = str(tmp_path / "store.sqlite")
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    init_db_dir(recovery, 1)
    sink = RecordingSink(url)
    flow = flow_for(ScriptedSource(inputs(), script), sink)
    for _execution in range(len(script.aborts) + 1):
        run_main(flow, epoch_interval=epoch, recovery_config=RecoveryConfig(str(recovery)))
    assert script.fired == script.aborts
    return url, sink


@pytest.mark.parametrize("epoch_seconds", [1, 10])
@pytest.mark.parametrize("fractions", [(0.25,), (0.5,), (0.9,), (0.2, 0.6, 0.8)])
def test_the_flow_aborted_before_a_snapshot_stores_the_chain_once(
    tmp_path: Path, reference: list, epoch_seconds: int, fractions: tuple[float, ...]
) -> None:
    n = len(inputs())
    script = Script({int(n * f) for f in fractions})
    url, _sink = run_until_done(tmp_path, script, timedelta(seconds=epoch_seconds))
    assert stored(url) == reference


@pytest.mark.parametrize("aborts", [(0.4, 0.7), (0.7,)])
def test_the_flow_resumed_from_a_snapshot_mid_run_stores_the_chain_once(
    tmp_path: Path, reference: list, aborts: tuple[float, ...]
) -> None:
    """The input holds for longer than the 1 s snapshot interval at a third of the way, so
    every execution that passes that point takes a snapshot there and replays after it."""
    n = len(inputs())
    script = Script({int(n * f) for f in aborts}, hold_at=n // 3, hold=timedelta(seconds=1.1))
    url, sink = run_until_done(tmp_path, script, timedelta(seconds=1))
    assert stored(url) == reference
    assert any(state is not None for state in sink.resumed_from[1:])
