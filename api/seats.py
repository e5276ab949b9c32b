"""Seats: a billing customer may hold as many active API keys as the plan in force allows.

Issuing a key (``quorum serve --create-key OWNER``) goes through :func:`create_seat_key`: for
an owner who is a billing customer, the active keys are counted and the plan's ``seats``
checked in the same transaction as the insert; one key beyond the seats is refused with
:class:`SeatLimitError`. Owners who are not customers (the desk's own keys) are not limited.
At use, :func:`seat_of` refuses keys beyond the seats (held from before a downgrade): the
oldest keys keep working.

>>> from datetime import UTC, datetime
>>> from connectors.store.billing import store_catalogue, upsert_customer, upsert_subscription
>>> from connectors.store.engine import open_store
>>> from operators.billing.catalogue import load_catalogue
>>> from schemas.billing import Subscription
>>> engine = open_store("sqlite://")
>>> t = datetime(2022, 1, 1, tzinfo=UTC)
>>> _ = store_catalogue(engine, load_catalogue())
>>> upsert_customer(engine, "bea", "Bea", "bea@x", created_at=t)
>>> upsert_subscription(engine, Subscription(subscription_id="s", customer_id="bea",
...                     plan_id="basic", status="active", started_at=t))
>>> first = create_seat_key(engine, "bea", ["signals:read"], now=t)
>>> create_seat_key(engine, "bea", ["signals:read"], now=t)
Traceback (most recent call last):
...
api.seats.SeatLimitError: customer 'bea' holds 1 active API key(s) and plan 'basic' allows ...
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from api.keys import CreatedKey, Scope, api_keys, create_key
from connectors.store.billing import billing_customers, load_stored_catalogue, read_subscriptions
from operators.billing.catalogue import Plan
from operators.billing.entitlements import current_plan, seat_refusal


class SeatLimitError(ValueError):
    """A key the customer's plan has no seat for."""


def active_keys(conn: Connection, owner: str) -> list[str]:
    """Ids of ``owner``'s keys that are not revoked, oldest first."""
    stmt = (
        select(api_keys.c.key_id)
        .where(api_keys.c.owner == owner, api_keys.c.revoked_at.is_(None))
        .order_by(api_keys.c.created_at, api_keys.c.key_id)
    )
    return list(conn.execute(stmt).scalars())


def customer_plan(conn: Connection, owner: str, now: datetime) -> tuple[bool, Plan | None]:
    """Whether ``owner`` is a billing customer, and their plan in force at ``now``."""
    is_customer = (
        conn.execute(
            select(billing_customers.c.customer_id).where(billing_customers.c.customer_id == owner)
        ).first()
        is not None
    )
    catalogue = load_stored_catalogue(conn) if is_customer else None
    if catalogue is None:
        return is_customer, None
    return True, current_plan(catalogue, read_subscriptions(conn, owner), now)[1]


def create_seat_key(
    engine: Engine, owner: str, scopes: Iterable[Scope | str], *, now: datetime
) -> CreatedKey:
    """:func:`api.keys.create_key`, refused when a customer's plan has no seat left."""
    with engine.begin() as conn:
        is_customer, plan = customer_plan(conn, owner, now)
        if is_customer:
            refusal = seat_refusal(owner, plan, len(active_keys(conn, owner)))
            if refusal is not None:
                raise SeatLimitError(refusal)
        return create_key(conn, owner, scopes)


def seat_of(conn: Connection, owner: str, key_id: str) -> int:
    """The key's seat number (0 = oldest active key of ``owner``)."""
    keys = active_keys(conn, owner)
    return keys.index(key_id) if key_id in keys else len(keys)
