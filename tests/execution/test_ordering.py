"""The event buffer hands out a batch pushed as a run in exactly the order of pushing its items
one by one, whatever else is buffered and however far each release goes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from operators.execution.ordering import EventBuffer

Item = tuple[int, int, str, str]  # known, priority, key, payload
KEYS = st.sampled_from(["A", "B"])
SINGLE = st.tuples(st.integers(0, 20), st.integers(0, 4), KEYS)
RUN = st.tuples(st.lists(st.integers(0, 20), min_size=1, max_size=8), st.integers(0, 4), KEYS)
STEP = st.one_of(
    st.tuples(st.just("push"), SINGLE),
    st.tuples(st.just("run"), RUN),
    st.tuples(st.just("release"), st.integers(0, 25)),
    st.tuples(st.just("oldest"), st.none()),
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
