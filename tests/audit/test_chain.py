"""The pure hash chain: every kind of tampering is detected and names the first bad record."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from operators.audit.chain import (
    GENESIS_HASH,
    AuditChain,
    AuditEvent,
    canonical_json,
    record_hash,
    verify_chain,
)
from schemas.records import AuditRecord

T0 = datetime(2022, 1, 1, tzinfo=UTC)


def chain(n: int = 6) -> list[AuditRecord]:
    c = AuditChain()
    return [
        c.append(
            AuditEvent(
                "fill" if i % 2 else "order",
                T0 + timedelta(seconds=i),
                {"i": i, "price": f"{100 + i}.5", "tags": ["a", i]},
            )
        )
        for i in range(n)
    ]


def head(records: list[AuditRecord]) -> tuple[int, str]:
    return records[-1].seq, records[-1].hash


def test_an_untouched_chain_verifies() -> None:
    records = chain()
    result = verify_chain(records, head(records))
    assert result.ok and result.checked == 6 and result.last_seq == 5
    assert result.message == "audit chain intact: 6 records (records 0..5), unkeyed (sha256)"
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))


def test_empty_chain_is_intact_and_continues_from_a_head() -> None:
    assert verify_chain([], None).ok
    records = chain(3)
    more = AuditChain.after(head(records)).append(AuditEvent("fill", T0, {}))
    assert more.seq == 3 and more.prev_hash == records[-1].hash
    assert verify_chain([*records, more], (3, more.hash)).ok


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("payload", {"i": 2, "price": "999.5", "tags": ["a", 2]}),
        ("kind", "fill"),
        ("ts", T0 + timedelta(days=1)),
    ],
)
def test_an_edit_names_the_edited_record(field: str, value: object) -> None:
    records = chain()
    records[2] = records[2].model_copy(update={field: value})
    result = verify_chain(records, head(records))
    assert (result.bad_seq, result.checked) == (2, 2)
    assert "the record was edited" in result.message and result.message.startswith("record 2")


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link() -> None:
    records = chain()
    forged = records[2].model_copy(update={"payload": {"i": 2, "price": "1"}})
    forged = forged.model_copy(
        update={"hash": record_hash(2, forged.ts, forged.kind, forged.payload, forged.prev_hash)}
    )
    records[2] = forged
    result = verify_chain(records, head(records))
    assert result.bad_seq == 3 and "prev_hash does not match" in result.reason


def test_a_deletion_names_the_missing_record() -> None:
    records = chain()
    del records[3]
    result = verify_chain(records, head(records))
    assert result.bad_seq == 3 and "record 3 is missing" in result.reason


def test_a_reordering_is_detected_at_the_first_moved_record() -> None:
    records = chain()
    a, b = records[1], records[4]
    # swap their places in the sequence (each takes the other's seq)
    records[1] = b.model_copy(update={"seq": 1})
    records[4] = a.model_copy(update={"seq": 4})
    result = verify_chain(records, head(records))
    assert result.bad_seq == 1 and "reordered" in result.reason


def test_truncation_is_caught_against_the_head() -> None:
    records = chain()
    kept = records[:4]
    result = verify_chain(kept, head(records))
    assert result.bad_seq == 4 and "truncated: the head records seq 5" in result.reason
    result = verify_chain([], head(records))
    assert result.bad_seq == 0 and "chain ends at nothing" in result.reason


def test_head_problems() -> None:
    records = chain()
    assert verify_chain(records, None).bad_seq == 5  # head row deleted
    assert verify_chain(records, (5, "0" * 64)).bad_seq == 5  # head edited / last replaced
    assert verify_chain(records, (3, records[3].hash)).bad_seq == 4  # records beyond the head


def test_canonical_form_ignores_key_order_and_normalises_nan() -> None:
    assert canonical_json({"b": 1, "a": 2}) == canonical_json({"a": 2, "b": 1})
    c = AuditChain()
    record = c.append(AuditEvent("x", T0, {"v": math.nan}))
    assert record.payload == {"v": None}
    assert verify_chain([record], (0, record.hash)).ok


_MUTATIONS = st.sampled_from(["payload", "kind", "ts", "prev_hash", "hash", "delete"])


@given(index=st.integers(min_value=0, max_value=7), mutation=_MUTATIONS)
def test_any_single_change_is_detected_at_or_right_after_it(index: int, mutation: str) -> None:
    records = chain(8)
    original_head = head(records)
    rec = records[index]
    if mutation == "delete":
        del records[index]
    else:
        changed = {
            "payload": {**rec.payload, "i": -1},
            "kind": rec.kind + "!",
            "ts": rec.ts + timedelta(microseconds=1),
            "prev_hash": "f" * 64,
            "hash": "e" * 64,
        }[mutation]
        records[index] = rec.model_copy(update={mutation: changed})
    result = verify_chain(records, original_head)
    assert not result.ok
    assert result.bad_seq == index
