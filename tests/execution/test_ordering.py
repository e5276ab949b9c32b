"""The event buffer hands out a batch pushed as a run in exactly the order of pushing its items
one by one, whatever else is buffered and however far each release goes."""

from __future__ import annotations

import pickle
from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from operators.execution.buffered_columns import SymbolValues
from operators.execution.ordering import MAX_JOINED_RUN, EventBuffer

Item = tuple[int, int, str, str]  # known, priority, key, payload
KEYS = st.sampled_from(["A", "B"])
SINGLE = st.tuples(st.integers(0, 20), st.integers(0, 4), KEYS)
RUN = st.tuples(st.lists(st.integers(0, 20), min_size=1, max_size=8), st.integers(0, 4), KEYS)
STEP = st.one_of(
    st.tuples(st.just("push"), SINGLE),
    st.tuples(st.just("run"), RUN),
    st.tuples(st.just("release"), st.integers(0, 25)),
    st.tuples(st.just("oldest"), st.none()),
    st.tuples(st.just("pickle"), st.none()),
)


def _replay(steps: list, as_runs: bool) -> list[object]:
    buf, out, n = EventBuffer(), [], 0
    for op, arg in steps:
        if op == "push":
            known, priority, key = arg
            n += 1
            buf.push(known, priority, key, f"p{n}")
        elif op == "run":
            known, priority, key = arg
            payloads = [f"p{n + i + 1}" for i in range(len(known))]
            n += len(known)
            if as_runs:
                buf.push_run(known, priority, key, payloads)
            else:
                for k, p in zip(known, payloads, strict=True):
                    buf.push(k, priority, key, p)
        elif op == "release":
            out.append(list(buf.pop_until(arg)))
        elif op == "pickle":
            buf = pickle.loads(pickle.dumps(buf))
        elif len(buf):
            out.append(buf.pop_oldest())
        out.append((len(buf), buf.oldest_ns))
    out.append(list(buf.pop_until(float("inf"))))
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(STEP, max_size=25))
def test_a_run_is_handed_out_as_its_items_pushed_one_by_one(steps: list) -> None:
    assert _replay(steps, as_runs=True) == _replay(steps, as_runs=False)


def test_an_unsorted_batch_still_comes_out_in_time_order() -> None:
    buf = EventBuffer()
    buf.push_run([180, 60, 120], 1, "A", ["late", "early", "middle"])
    assert [p for _, _, p in buf.pop_until(float("inf"))] == ["early", "middle", "late"]


def _spans(buf: EventBuffer, limit: float) -> list[list[object]]:
    return [list(p[start:stop]) for _, _, p, start, stop in buf.pop_spans_until(limit)]


def test_runs_of_one_key_pushed_batch_by_batch_are_handed_out_as_one_stretch() -> None:
    buf = EventBuffer()
    for minute in range(1, 16):  # a live feed: one bar per batch, each a run of one
        values = SymbolValues.of("A", array("d", [minute]))
        buf.push_run(array("q", [60 * minute]), 1, "A", values)
        buf.push(60 * minute, 1, "B", f"B {minute}")  # another key: no effect on joining
    buf.push(900, 3, "A", "signal A")
    spans = _spans(buf, 901)
    assert len(spans) == 31  # A and B alternate in time
    buf.push_run(array("q", [960]), 1, "A", SymbolValues.of("A", array("d", [16])))
    for minute in range(17, 31):
        values = SymbolValues.of("A", array("d", [minute]))
        buf.push_run(array("q", [60 * minute]), 1, "A", values)
    assert _spans(buf, 1801) == [[("A", float(m)) for m in range(16, 31)]]


def test_a_run_does_not_join_across_an_item_of_its_key_or_going_back_in_time() -> None:
    buf = EventBuffer()
    buf.push_run([60, 120], 1, "A", ["a1", "a2"])
    buf.push(120, 1, "A", "single")  # same priority and key: later runs may not jump it
    buf.push_run([120, 180], 1, "A", ["a3", "a4"])
    buf.push_run([150], 1, "A", ["a5"])  # before the waiting run's last instant
    buf.push_run([240], 1, "A", ["a6"])  # joins [a5], handed out after a4
    assert _spans(buf, float("inf")) == [["a1", "a2"], ["single"], ["a3"], ["a5"], ["a4"], ["a6"]]


def test_joining_stops_at_the_size_bound_and_after_a_run_is_handed_out() -> None:
    buf = EventBuffer()
    buf.push_run(list(range(MAX_JOINED_RUN)), 1, "A", ["x"] * MAX_JOINED_RUN)
    buf.push_run([MAX_JOINED_RUN], 1, "A", ["over"])
    assert [len(span) for span in _spans(buf, float("inf"))] == [MAX_JOINED_RUN, 1]
    buf.push_run([10**6], 1, "A", ["after"])
    assert _spans(buf, float("inf")) == [["after"]]


def test_a_buffer_pickled_before_runs_joined_still_restores() -> None:
    buf = EventBuffer()
    buf.push_run([60, 120], 1, "A", ["a1", "a2"])
    state = dict(buf.__dict__)
    del state["_joinable"]  # the form snapshots had before
    old = EventBuffer.__new__(EventBuffer)
    old.__setstate__(state)
    old.push_run([180], 1, "A", ["a3"])
    assert _spans(old, float("inf")) == [["a1", "a2"], ["a3"]]
