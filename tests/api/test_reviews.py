"""Review queue: list, approve/reject with a comment; the queue and the audit log agree."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from connectors.store.audit import audit_log, verify_store
from connectors.store.signals import read_review_queue

Headers = Callable[[str], dict[str, str]]


def _pending(engine: Engine) -> list[str]:
    ids = read_review_queue(engine, status="pending")["fused_id"].to_list()
    assert len(ids) >= 3, "the replay should queue several REVIEW-band signals"
    return ids


def _audit_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(audit_log)).scalar_one()


def test_list_pending_reviews(client: TestClient, engine: Engine, headers: Headers) -> None:
    queue = read_review_queue(engine, status="pending")
    body = client.get("/v1/reviews", headers=headers("reader")).json()
    assert [i["fused_id"] for i in body["items"]] == queue["fused_id"].to_list()
    assert all(abs(i["score"]) >= 0.5 and i["status"] == "pending" for i in body["items"])
    first = client.get("/v1/reviews", params={"limit": 2}, headers=headers("reader")).json()
    rest = client.get(
        "/v1/reviews", params={"cursor": first["next_cursor"]}, headers=headers("reader")
    ).json()
    assert [i["fused_id"] for i in first["items"] + rest["items"]] == queue["fused_id"].to_list()


def test_approve_records_queue_and_audit_atomically(
    client: TestClient, engine: Engine, headers: Headers, now: datetime
) -> None:
    fused_id = _pending(engine)[0]
    before = _audit_count(engine)
    response = client.post(
        f"/v1/reviews/{fused_id}/decision",
        json={"decision": "approve", "comment": "spread and depth are fine"},
        headers=headers("reviewer"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["review"]["status"] == "approved"
    assert body["review"]["reviewer"] == "ana"  # the key's owner
    queue = read_review_queue(engine)
    stored = queue.filter(queue["fused_id"] == fused_id).row(0, named=True)
    assert (stored["status"], stored["reviewer"], stored["comment"]) == (
        "approved",
        "ana",
        "spread and depth are fine",
    )
    assert stored["decided_at"] == now
    assert _audit_count(engine) == before + 1
    audit = body["audit"]
    assert audit["kind"] == "review_decision"
    assert audit["payload"]["fused_id"] == fused_id
    assert audit["payload"]["reviewer"] == "ana"
    assert audit["payload"]["decision"] == "approved"
    assert audit["payload"]["comment"] == "spread and depth are fine"
    assert audit["payload"]["via"].startswith("api:")
    action = body["action"]  # what a running flow takes human decisions as
    assert (action["kind"], action["actor"], action["fused_id"]) == (
        "approve_review",
        "ana",
        fused_id,
    )
    assert audit["payload"]["action"] == action
    assert audit["ts"] == "2022-02-01T07:00:00Z"
    verified = verify_store(engine)
    assert verified.ok, verified.message
    admin = client.get(
        "/v1/audit", params={"kind": "review_decision"}, headers=headers("admin")
    ).json()
    assert admin["items"][-1]["hash"] == audit["hash"]
    assert client.get("/v1/audit/verify", headers=headers("admin")).json()["ok"] is True


def test_reject_then_a_second_decision_is_409_and_writes_nothing(
    client: TestClient, engine: Engine, headers: Headers
) -> None:
    fused_id = _pending(engine)[1]
    url = f"/v1/reviews/{fused_id}/decision"
    first = client.post(
        url, json={"decision": "reject", "comment": "news risk"}, headers=headers("reviewer")
    )
    assert first.json()["review"]["status"] == "rejected"
    count = _audit_count(engine)
    second = client.post(
        url, json={"decision": "approve", "comment": "changed my mind"}, headers=headers("admin")
    )
    assert second.status_code == 409
    assert "already decided: rejected" in second.json()["detail"]
    assert _audit_count(engine) == count
    decided = client.get("/v1/reviews", params={"status": "rejected"}, headers=headers("reader"))
    assert [i["fused_id"] for i in decided.json()["items"]] == [fused_id]


def test_unknown_item_is_404_and_writes_nothing(
    client: TestClient, engine: Engine, headers: Headers
) -> None:
    count = _audit_count(engine)
    response = client.post(
        "/v1/reviews/sig-nope/decision",
        json={"decision": "approve", "comment": "ok"},
        headers=headers("reviewer"),
    )
    assert response.status_code == 404
    assert _audit_count(engine) == count


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "approve", "comment": "   "}, "comment"),
        ({"decision": "approve", "comment": "a\x00b"}, "comment"),
        ({"decision": "approve", "comment": "x" * 2001}, "comment"),
        ({"decision": "approve"}, "comment"),
        ({"decision": "maybe", "comment": "ok"}, "decision"),
        ({"decision": "approve", "comment": "ok", "reviewer": "mallory"}, "reviewer"),
    ],
)
def test_bad_decisions_are_422_and_write_nothing(
    client: TestClient, engine: Engine, headers: Headers, body: dict, field: str
) -> None:
    fused_id = _pending(engine)[0]
    count = _audit_count(engine)
    response = client.post(
        f"/v1/reviews/{fused_id}/decision", json=body, headers=headers("reviewer")
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert _audit_count(engine) == count
    assert fused_id in read_review_queue(engine, status="pending")["fused_id"].to_list()


def test_non_json_body_is_422(client: TestClient, engine: Engine, headers: Headers) -> None:
    fused_id = _pending(engine)[0]
    response = client.post(
        f"/v1/reviews/{fused_id}/decision",
        content=b'{"decision": "approve", "comment": "\\ud800"}',
        headers={**headers("reviewer"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422


def test_concurrent_decisions_keep_one_valid_chain(
    make_client: Callable[..., TestClient], engine: Engine, headers: Headers
) -> None:
    client = make_client()
    ids = _pending(engine)[:3]
    results: dict[str, int] = {}

    def decide(fused_id: str) -> None:
        response = client.post(
            f"/v1/reviews/{fused_id}/decision",
            json={"decision": "approve", "comment": f"ok {fused_id}"},
            headers=headers("reviewer"),
        )
        results[fused_id] = response.status_code

    threads = [threading.Thread(target=decide, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == dict.fromkeys(ids, 200)
    with engine.connect() as conn:
        seqs = conn.execute(select(audit_log.c.seq).order_by(audit_log.c.seq)).scalars().all()
    assert seqs == list(range(len(seqs)))
    assert verify_store(engine).ok


def test_tampering_after_a_decision_is_caught_by_verify(
    client: TestClient, engine: Engine, headers: Headers
) -> None:
    fused_id = _pending(engine)[0]
    record = client.post(
        f"/v1/reviews/{fused_id}/decision",
        json={"decision": "approve", "comment": "fine"},
        headers=headers("reviewer"),
    ).json()["audit"]
    with engine.begin() as conn:
        conn.execute(
            update(audit_log)
            .where(audit_log.c.seq == record["seq"])
            .values(payload='{"comment":"edited","decision":"rejected"}')
        )
    verdict = client.get("/v1/audit/verify", headers=headers("admin")).json()
    assert verdict["ok"] is False and verdict["bad_seq"] == record["seq"]
    assert "edited" in verdict["message"]
