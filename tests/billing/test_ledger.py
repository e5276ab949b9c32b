"""The ledger in the store: balanced, immutable, corrected by reversal, every posting audited."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from connectors.store.audit import verify_store
from connectors.store.billing import (
    LedgerConflictError,
    balances,
    check_ledger,
    ledger_entries,
    read_postings,
    read_usage,
    reversal_of,
    write_postings,
    write_usage,
)
from connectors.store.engine import open_store
from operators.billing.ledger import invoice_posting, payment_posting, refund_posting
from operators.billing.money import allocate
from schemas.billing import Charge, Invoice, LedgerEntry, Posting, UsageEvent
from tests.billing.conftest import day
from tests.store.conftest import postgres_url  # noqa: F401 - the PostgreSQL fixture


def _invoice(customer: str = "ana", amount: int = 9900) -> Invoice:
    return Invoice(
        invoice_id=f"2022-01-{customer}",
        customer_id=customer,
        month="2022-01",
        lines=(
            Charge(kind="subscription", description="Pro", unit_minor=amount, amount_minor=amount),
        ),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    """The ledger on SQLite and on PostgreSQL (a private schema; skipped when absent)."""
    if request.param == "sqlite":
        engine = open_store(tmp_path / "ledger.sqlite")
    else:
        engine = open_store(request.getfixturevalue("postgres_url"))
    yield engine
    engine.dispose()


def test_an_unbalanced_posting_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="does not balance: usd sums to 1"):
        Posting(
            posting_id="x",
            ts=day(1),
            kind="invoice",
            entries=(
                LedgerEntry(account="a", amount_minor=2),
                LedgerEntry(account="b", amount_minor=-1),
            ),
        )


def test_invoice_payment_refund_balances(engine) -> None:
    postings = [
        invoice_posting(_invoice(), day(31)),
        payment_posting("pi_1", "ana", 9900, day(31, 1)),
        refund_posting("re_1", "ana", 1000, day(31, 2)),
    ]
    assert write_postings(engine, postings) == 3
    assert balances(engine) == {
        "cash:stripe": {"usd": 8900},
        "revenue:subscriptions": {"usd": -9900},
        "refunds": {"usd": 1000},
    }
    check = check_ledger(engine)
    assert check.ok and check.postings == 3
    assert verify_store(engine).ok  # the postings are links of the audit chain


def test_postings_are_immutable_and_corrected_by_reversal(engine) -> None:
    wrong = invoice_posting(_invoice(amount=9000), day(31))
    write_postings(engine, [wrong])
    with pytest.raises(LedgerConflictError, match="immutable"):
        write_postings(engine, [invoice_posting(_invoice(amount=9900), day(31))])
    write_postings(engine, [reversal_of(wrong, day(31, 5), "wrong price")])
    assert "receivable:ana" not in balances(engine)
    kinds = [p.kind for p in read_postings(engine)]
    assert kinds == ["invoice", "reversal"]
    assert check_ledger(engine).ok


def test_a_posting_reversed_twice_is_refused(engine) -> None:
    wrong = invoice_posting(_invoice(), day(31))
    write_postings(engine, [wrong, reversal_of(wrong, day(31, 1), "x")])
    with pytest.raises(LedgerConflictError):
        write_postings(engine, [reversal_of(wrong, day(31, 2), "y")])


def test_check_finds_an_edited_entry(engine) -> None:
    write_postings(engine, [invoice_posting(_invoice(), day(31))])
    with engine.begin() as conn:
        conn.execute(
            update(ledger_entries).where(ledger_entries.c.line == 0).values(amount_minor=9800)
        )
    check = check_ledger(engine)
    assert not check.ok
    assert any("does not balance" in p for p in check.problems)


def test_usage_is_written_once_per_customer_and_signal(engine) -> None:
    use = UsageEvent(
        usage_id="use-1",
        customer_id="cy",
        signal_id="f1",
        asset="BTC-PERP",
        decision="open",
        plan_id="per_signal",
        price_minor=50,
        delivered_at=day(2),
        attribution={"ml:online@15m": 1.0},
    )
    assert write_usage(engine, [use, use]) == 1
    write_usage(engine, [use.model_copy(update={"price_minor": 99})])  # a replay never reprices
    assert [(u.usage_id, u.price_minor) for u in read_usage(engine)] == [("use-1", 50)]


def test_allocate_never_loses_a_cent() -> None:
    for total in (0, 1, 7, 100, 9900, 123457):
        for weights in ({"a": 1}, {"a": 1, "b": 2, "c": 3}, {"a": 0.333, "b": 0.333, "c": 0.334}):
            parts = allocate(total, weights)
            assert sum(parts.values()) == total
    assert allocate(10, {"a": 0.5, "b": -0.5, "c": 0.5}) == {"a": 5, "c": 5}
